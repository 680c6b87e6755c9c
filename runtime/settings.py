"""The one settings object: every knob genai-flow reads from the environment."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from runtime.addresses import HostPort, HttpUrl, Port, RedisUrl
from runtime.maxtokens import DEFAULT_MAX_TOKENS, DEFAULT_STEP, parse_max_tokens
from schemas.defaults import DEFAULT_COLLECTION
from schemas.fields import CollectionName, ScoreGap


class LLMBackend(StrEnum):
    """Which model backend inference activities talk to."""

    SIM = "sim"
    OPENAI = "openai"
    LOCAL = "local"


# Served model names of the `local` backend (llama-server's --alias): what responses and the ledger show.
LOCAL_CHAT_MODEL = "smollm2-135m-instruct"
LOCAL_EMBED_MODEL = "all-minilm-l6-v2"
# Output bounds for the local 135M model on a couple of CPU cores, measured in `make test-real` (a summary ~150
# tokens, entities ~250, an answer ~60): a loop is cut in seconds there, not minutes. GENAI_FLOW_MAX_TOKENS overrides.
# Entities get 1,536: a reply filling the reply schema's bounds (schemas/structured.py) ran past 1,024 tokens in a CI
# run and was cut before its JSON closed, five attempts in a row; a full but well-formed list is kept and checked.
LOCAL_MAX_TOKENS = {"summarize": 768, "extract_entities": 1536, "generate_answer": 256}
# A 135M model answers from whichever chunk comes first or says most: the local backend drops distractors.
LOCAL_SCORE_GAP = 0.25


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def revealed(values: Sequence[SecretStr | str]) -> list[str]:
    """Secret settings' values in the clear (plain strings pass: tests build settings with `model_copy`)."""
    return [v.get_secret_value() if isinstance(v, SecretStr) else v for v in values]


class Settings(BaseSettings):
    """Environment-driven configuration; names follow CONTRACTS.md (standard names where they exist)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, case_sensitive=False)

    # Temporal
    temporal_address: HostPort = Field("127.0.0.1:7233", validation_alias=_env("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field("default", validation_alias=_env("TEMPORAL_NAMESPACE"))
    temporal_api_key: SecretStr | None = Field(None, validation_alias=_env("TEMPORAL_API_KEY"))
    temporal_tls: bool = Field(False, validation_alias=_env("TEMPORAL_TLS"))
    temporal_tls_cert: Path | None = Field(None, validation_alias=_env("TEMPORAL_TLS_CLIENT_CERT_PATH"))
    temporal_tls_key: Path | None = Field(None, validation_alias=_env("TEMPORAL_TLS_CLIENT_KEY_PATH"))
    temporal_ui_port: Port = Field(8233, validation_alias=_env("GENAI_FLOW_TEMPORAL_UI_PORT"))

    # Infrastructure
    redis_url: RedisUrl = Field("redis://127.0.0.1:6379/0", validation_alias=_env("REDIS_URL"))
    chroma_url: HttpUrl = Field("http://127.0.0.1:8002", validation_alias=_env("GENAI_FLOW_CHROMA_URL"))
    home: Path = Field(Path.home() / ".genai-flow", validation_alias=_env("GENAI_FLOW_HOME"))
    task_queue_prefix: str = Field("", validation_alias=_env("GENAI_FLOW_TASK_QUEUE_PREFIX"))
    key_prefix: str = Field("genai-flow", validation_alias=_env("GENAI_FLOW_KEY_PREFIX"))

    # Model backend
    llm: LLMBackend = Field(LLMBackend.SIM, validation_alias=_env("GENAI_FLOW_LLM"))
    openai_base_url: HttpUrl | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    chat_model: str = Field("sim-chat", validation_alias=_env("GENAI_FLOW_CHAT_MODEL"))
    embed_model: str = Field("sim-embed", validation_alias=_env("GENAI_FLOW_EMBED_MODEL"))
    sim_port: Port = Field(8001, validation_alias=_env("GENAI_FLOW_SIM_PORT"))
    # Flags `up` passes to the simulator it starts (`--tps 50`: a provider's streaming pace, as the fault suite uses).
    sim_flags: str = Field("", validation_alias=_env("GENAI_FLOW_SIM_FLAGS"))
    embed_base_url: HttpUrl | None = Field(None, validation_alias=_env("GENAI_FLOW_EMBED_BASE_URL"))
    local_llm_port: Port = Field(8003, validation_alias=_env("GENAI_FLOW_LOCAL_LLM_PORT"))
    local_embed_port: Port = Field(8004, validation_alias=_env("GENAI_FLOW_LOCAL_EMBED_PORT"))
    # A GGUF chat model of the user's own for the local backend, instead of the packaged SmolLM2-135M.
    local_chat_gguf: Path | None = Field(None, validation_alias=_env("GENAI_FLOW_LOCAL_CHAT_GGUF"))
    # Built llama-server and converted weights (`make local-llm`): outside any checkout, shared by all of them.
    local_llm_dir: Path = Field(
        Path.home() / ".cache" / "genai-flow" / "llama", validation_alias=_env("GENAI_FLOW_LOCAL_LLM_DIR")
    )

    # Gateway and worker
    gateway_host: str = Field("127.0.0.1", validation_alias=_env("GENAI_FLOW_GATEWAY_HOST"))
    gateway_port: Port = Field(8000, validation_alias=_env("GENAI_FLOW_GATEWAY_PORT"))
    public_url: HttpUrl | None = Field(None, validation_alias=_env("GENAI_FLOW_PUBLIC_URL"))
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GENAI_FLOW_API_KEYS")
    )
    # API keys that may read every owner's jobs and decode every payload at /codec (a subset of api_keys).
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GENAI_FLOW_ADMIN_KEYS")
    )
    # Signs events tokens and console sessions (runtime/server_secret.py); unset: one kept in GENAI_FLOW_HOME.
    server_secret: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GENAI_FLOW_SERVER_SECRET"), repr=False
    )
    # Deployments: /metrics, /docs and /openapi.json need an API key too (open on the dev stack).
    protect_ops: bool = Field(False, validation_alias=_env("GENAI_FLOW_PROTECT_OPS"))
    allowed_buckets: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GENAI_FLOW_ALLOWED_BUCKETS")
    )
    allowed_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GENAI_FLOW_ALLOWED_ROOTS")
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1, validation_alias=_env("GENAI_FLOW_MAX_BODY_BYTES"))
    # Document uploads (POST /v1/documents, the console's upload form) have their own, larger limit.
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1, validation_alias=_env("GENAI_FLOW_MAX_UPLOAD_BYTES"))
    rate_limit: str | None = Field(
        "100/10s", pattern=r"^\d+/\d*(s|m|h)$", validation_alias=_env("GENAI_FLOW_RATE_LIMIT")
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GENAI_FLOW_CORS_ORIGINS")
    )
    sse_keepalive_s: float = Field(15.0, gt=0, le=300, validation_alias=_env("GENAI_FLOW_SSE_KEEPALIVE_S"))
    event_token_ttl_s: int = Field(600, ge=1, le=600, validation_alias=_env("GENAI_FLOW_EVENT_TOKEN_TTL_S"))
    sns_auto_confirm: bool = Field(False, validation_alias=_env("GENAI_FLOW_SNS_AUTO_CONFIRM"))
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GENAI_FLOW_ENCRYPTION_KEYS"), repr=False
    )
    metrics_port: Port = Field(9464, validation_alias=_env("GENAI_FLOW_METRICS_PORT"))
    metrics_host: str = Field("127.0.0.1", validation_alias=_env("GENAI_FLOW_METRICS_HOST"))
    worker_shutdown_grace_s: float = Field(30.0, ge=0, validation_alias=_env("GENAI_FLOW_WORKER_SHUTDOWN_GRACE_S"))
    max_concurrent_activities: int = Field(2000, ge=1, validation_alias=_env("GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES"))
    max_concurrent_workflow_tasks: int = Field(
        100, ge=1, validation_alias=_env("GENAI_FLOW_MAX_CONCURRENT_WORKFLOW_TASKS")
    )
    # Off trades the sandbox's determinism checks for ~20 % less worker CPU per answer job (docs/benchmarks.md).
    workflow_sandbox: bool = Field(True, validation_alias=_env("GENAI_FLOW_WORKFLOW_SANDBOX"))
    step_deadline_s: float = Field(600.0, gt=0, validation_alias=_env("GENAI_FLOW_STEP_DEADLINE_S"))
    score_gap: ScoreGap | None = Field(None, validation_alias=_env("GENAI_FLOW_SCORE_GAP"))
    # Best retrieval score below which an answer is "not in the documents" (default: the embed model's measured floor).
    score_floor: float | None = Field(None, ge=-1, le=1, validation_alias=_env("GENAI_FLOW_SCORE_FLOOR"))
    max_tokens: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_MAX_TOKENS), validation_alias=_env("GENAI_FLOW_MAX_TOKENS")
    )
    inference_timeout_s: float = Field(120.0, gt=0, validation_alias=_env("GENAI_FLOW_INFERENCE_TIMEOUT_S"))
    idempotency_ttl_s: int = Field(7 * 24 * 3600, gt=0, validation_alias=_env("GENAI_FLOW_IDEMPOTENCY_TTL_S"))
    cross_job_cache: bool = Field(True, validation_alias=_env("GENAI_FLOW_CROSS_JOB_CACHE"))
    prices_file: Path | None = Field(None, validation_alias=_env("GENAI_FLOW_PRICES_FILE"))
    # Endpoints, their limits and failover order (docs/models.md); validated here, so every start refuses a bad one.
    models_file: Path | None = Field(None, validation_alias=_env("GENAI_FLOW_MODELS_FILE"))
    # Python modules whose `@agent_tool` functions workers register (comma list; docs/agents.md).
    agent_tool_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("GENAI_FLOW_AGENT_TOOLS")
    )

    # Ingestion
    ingest_collection: CollectionName = Field(DEFAULT_COLLECTION, validation_alias=_env("GENAI_FLOW_INGEST_COLLECTION"))
    claims_url: str | None = Field(None, validation_alias=_env("GENAI_FLOW_CLAIMS_URL"))

    # Observability and test hooks
    log_format: str = Field("auto", pattern="^(auto|console|json)$", validation_alias=_env("GENAI_FLOW_LOG_FORMAT"))
    log_level: str = Field(
        "INFO", pattern="(?i)^(debug|info|warning|error|critical)$", validation_alias=_env("GENAI_FLOW_LOG_LEVEL")
    )
    otel_endpoint: str | None = Field(None, validation_alias=_env("OTEL_EXPORTER_OTLP_ENDPOINT"))
    # The standard OpenTelemetry variable; the OTLP exporter reads the other OTEL_EXPORTER_OTLP_* variables itself.
    otel_traces_exporter: str = Field(
        "none", pattern="(?i)^(otlp|console|none)$", validation_alias=_env("OTEL_TRACES_EXPORTER")
    )
    log_text: bool = Field(False, validation_alias=_env("GENAI_FLOW_LOG_TEXT"))
    fault_point: str | None = Field(None, validation_alias=_env("GENAI_FLOW_FAULT_POINT"))

    @field_validator(
        "api_keys",
        "admin_keys",
        "server_secret",
        "allowed_buckets",
        "allowed_roots",
        "cors_origins",
        "encryption_keys",
        "agent_tool_modules",
        mode="before",
    )
    @classmethod
    def _comma_list(cls, value: object) -> object:
        # Plain comma lists read better in an environment than JSON arrays.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _valid_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if value:
            from runtime.codec import parse_keys  # imported only when keys are set (it pulls in cryptography)

            parse_keys(revealed(value))  # raises with a message that names the setting, never a key
        return value

    @field_validator("sim_flags")
    @classmethod
    def _sim_flags_split(cls, value: str) -> str:
        import shlex

        try:
            shlex.split(value)
        except ValueError as err:  # an unbalanced quote: say so at start, not as a traceback from `up`
            raise ValueError(f"GENAI_FLOW_SIM_FLAGS: {err}") from None
        return value

    @model_validator(mode="after")
    def _admins_are_keys(self) -> Settings:
        if not set(revealed(self.admin_keys)) <= set(revealed(self.api_keys)):
            raise ValueError("GENAI_FLOW_ADMIN_KEYS: every admin key must also be in GENAI_FLOW_API_KEYS")
        return self

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate_limit_off(cls, value: object) -> object:
        # `GENAI_FLOW_RATE_LIMIT=` or `off` turns the per-key limit off.
        if isinstance(value, str) and value.strip().lower() in ("", "off", "none"):
            return None
        return value

    @model_validator(mode="after")
    def _local_defaults(self) -> Settings:
        # The simulator's model names mean nothing to llama-server: `local` defaults to the names it serves, and to
        # output bounds its small model needs.
        if self.llm is LLMBackend.LOCAL:
            if "chat_model" not in self.model_fields_set:
                self.chat_model = LOCAL_CHAT_MODEL
            if "embed_model" not in self.model_fields_set:
                self.embed_model = LOCAL_EMBED_MODEL
            if "max_tokens" not in self.model_fields_set:
                self.max_tokens = {**self.max_tokens, **LOCAL_MAX_TOKENS}
            if "score_gap" not in self.model_fields_set:
                self.score_gap = LOCAL_SCORE_GAP
        return self

    @model_validator(mode="after")
    def _models_file(self) -> Settings:
        if self.models_file is not None:
            from runtime.models_file import ModelsFileError, load_models

            try:
                load_models(self.models_file, (self.chat_model, self.embed_model))
            except ModelsFileError as err:
                raise SettingsError(f"GENAI_FLOW_MODELS_FILE {err}") from None
        return self

    @property
    def api_key_values(self) -> list[str]:
        """The API keys in the clear (for the gateway's key ring only)."""
        return revealed(self.api_keys)

    @property
    def encryption_entries(self) -> list[str]:
        """GENAI_FLOW_ENCRYPTION_KEYS entries in the clear (for the codec and the at-rest sealer only)."""
        return revealed(self.encryption_keys)

    @property
    def schema_string_bounds(self) -> bool:
        """Whether structured-output schemas sent to the model carry string lengths (`maxLength`)."""
        # llama.cpp and the simulator enforce them by grammar; OpenAI's strict mode refuses the keyword.
        return self.llm is not LLMBackend.OPENAI

    @property
    def llm_base_url(self) -> str:
        """Base URL of the OpenAI-compatible endpoint in use."""
        if self.llm is LLMBackend.SIM:
            return f"http://127.0.0.1:{self.sim_port}/v1"
        if self.llm is LLMBackend.LOCAL:
            return f"http://127.0.0.1:{self.local_llm_port}/v1"
        return self.openai_base_url or "https://api.openai.com/v1"

    @property
    def embed_url(self) -> str:
        """Base URL for embeddings: GENAI_FLOW_EMBED_BASE_URL, else the local embeddings server, else the chat one."""
        if self.embed_base_url:
            return self.embed_base_url
        if self.llm is LLMBackend.LOCAL:
            return f"http://127.0.0.1:{self.local_embed_port}/v1"
        return self.llm_base_url

    @property
    def llm_api_key(self) -> str:
        """API key for the model endpoint (a dummy for the simulator and the local llama-server)."""
        if self.llm is LLMBackend.SIM:
            return "sim-key"
        if self.llm is LLMBackend.LOCAL:
            return "local-key"
        return self.openai_api_key.get_secret_value() if self.openai_api_key else ""

    @property
    def claims_base(self) -> str:
        """Where ingestion keeps intermediate text and vectors (claim check): GENAI_FLOW_CLAIMS_URL or the home dir."""
        return (self.claims_url or f"file://{self.home.resolve()}/claims").rstrip("/")

    @property
    def gateway_url(self) -> str:
        """Where clients reach the gateway."""
        return self.public_url or f"http://{self.gateway_host}:{self.gateway_port}"

    @field_validator("max_tokens", mode="before")
    @classmethod
    def _max_tokens(cls, value: object) -> object:
        return parse_max_tokens(value) if isinstance(value, str) else value

    def max_tokens_for(self, step: str) -> int:
        """The output bound of a model call of `step` (its own, else the `default` one)."""
        return self.max_tokens.get(step) or self.max_tokens.get(DEFAULT_STEP) or DEFAULT_MAX_TOKENS[DEFAULT_STEP]


class SettingsError(RuntimeError):
    """A setting is invalid; the message names the environment variable."""


def _describe(err: ValidationError) -> str:
    fields = Settings.model_fields
    lines = []
    for e in err.errors():
        name = str(e["loc"][0]) if e["loc"] else "?"
        field = fields.get(name)
        alias = field.validation_alias if field else None
        env = alias.choices[0] if isinstance(alias, AliasChoices) else name.upper()
        lines.append(f"{env}: {e['msg']} (got {e.get('input')!r})")
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings() -> Settings:
    """Read settings from the environment, raising SettingsError that names the bad variable."""
    try:
        return Settings()
    except ValidationError as err:
        raise SettingsError(_describe(err)) from None
    except ValueError as err:  # pydantic-settings' own parse errors name the field
        raise SettingsError(f"invalid settings: {err}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()
