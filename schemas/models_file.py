"""The models file (GENAI_FLOW_MODELS_FILE, YAML): named endpoints and limits, per model the endpoints to try.

```yaml
endpoints:
  primary: {base_url: "http://127.0.0.1:8001/v1", api_key_env: OPENAI_API_KEY, rpm: 500, tpm: 60000}
  backup:  {base_url: "http://127.0.0.1:8011/v1", tpm: 30000}
models:
  sim-chat: [primary, backup]
  sim-embed: [primary, {endpoint: backup, model: other-embed-name}]
router: {cooldown_s: 10}          # optional: how the router waits, fails over and trips breakers
```
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

ENDPOINT_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class Endpoint(BaseModel):
    """Where one OpenAI-compatible server is and what it allows (every limit optional: none means unlimited)."""

    model_config = ConfigDict(extra="forbid")

    base_url: HttpUrl
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    rpm: int | None = Field(None, gt=0, description="requests per sliding 60 s window")
    tpm: int | None = Field(None, gt=0, description="tokens per sliding 60 s window, counted as the provider does")
    max_concurrency: int | None = Field(None, gt=0, description="calls in flight at once, across every worker")
    window_s: float = Field(60.0, gt=0, le=86_400, description="the sliding window rpm and tpm count over")
    # OpenAI counts a chat call's max_tokens against TPM when it arrives, not the tokens it then produced.
    count_output_bound: bool = True

    @property
    def url(self) -> str:
        """The base URL without a trailing slash."""
        return str(self.base_url).rstrip("/")


class Target(BaseModel):
    """One endpoint in a model's list, and the model name to ask it for (default: the logical name)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str
    model: str | None = None


class RouterOptions(BaseModel):
    """How the router waits, fails over and trips its circuit breakers (defaults suit a hosted provider)."""

    model_config = ConfigDict(extra="forbid")

    cooldown_s: float = Field(10.0, gt=0, le=600, description="pause after a provider 429 that names no reset time")
    failover_after_s: float = Field(
        2.0, ge=0, description="a wait for capacity longer than this sends the call to the next endpoint"
    )
    wait_in_call_s: float = Field(
        1.0, ge=0, le=30, description="a wait for capacity up to this long is slept inside the call, not rescheduled"
    )
    breaker_failures: int = Field(5, ge=1, description="failures within breaker_window_s that open the breaker")
    breaker_window_s: float = Field(30.0, gt=0)
    breaker_open_s: float = Field(30.0, gt=0, description="how long an open breaker refuses before a probe")
    bulk_share: float = Field(0.8, gt=0, le=1, description="share of each limit that bulk work (ingestion) may fill")
    unavailable_retry_s: float = Field(5.0, gt=0, description="pause when Redis cannot be reached (fail closed)")


class ModelsFile(BaseModel):
    """The whole file: endpoints, each logical model's endpoints in order, router options."""

    model_config = ConfigDict(extra="forbid")

    endpoints: dict[str, Endpoint] = Field(min_length=1)
    models: dict[str, list[Target]] = Field(min_length=1)
    router: RouterOptions = Field(default_factory=RouterOptions)

    @model_validator(mode="before")
    @classmethod
    def _short_targets(cls, data: object) -> object:
        # `sim-chat: [primary, backup]`: a bare name is {endpoint: name}.
        if isinstance(data, dict) and isinstance(data.get("models"), dict):
            models = {
                name: [{"endpoint": t} if isinstance(t, str) else t for t in targets]
                if isinstance(targets, list)
                else targets
                for name, targets in data["models"].items()
            }
            data = {**data, "models": models}
        return data

    @model_validator(mode="after")
    def _known_endpoints(self) -> ModelsFile:
        for name in self.endpoints:
            if not re.match(ENDPOINT_NAME, name):
                raise ValueError(f"endpoints.{name}: a name of letters, digits, '.', '_' or '-'")
        for model, targets in self.models.items():
            if not targets:
                raise ValueError(f"models.{model}: list at least one endpoint")
            for i, target in enumerate(targets):
                if target.endpoint not in self.endpoints:
                    known = ", ".join(sorted(self.endpoints))
                    raise ValueError(
                        f"models.{model}.{i}.endpoint: unknown endpoint {target.endpoint!r} (known: {known})"
                    )
        return self

    def route(self, model: str) -> list[tuple[str, Endpoint, str]]:
        """(endpoint name, endpoint, model name to send) for each endpoint of `model`, in order; [] if unlisted."""
        return [(t.endpoint, self.endpoints[t.endpoint], t.model or model) for t in self.models.get(model, [])]
