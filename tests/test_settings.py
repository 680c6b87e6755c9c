"""Settings: defaults follow CONTRACTS.md, errors name the environment variable, comma lists parse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.settings import DEFAULT_MAX_TOKENS, LLMBackend, Settings, SettingsError, load_settings

ENV_NAMES = [
    "TEMPORAL_ADDRESS",
    "REDIS_URL",
    "GENAI_FLOW_CHROMA_URL",
    "GENAI_FLOW_SIM_PORT",
    "GENAI_FLOW_GATEWAY_PORT",
    "GENAI_FLOW_METRICS_PORT",
    "GENAI_FLOW_TEMPORAL_UI_PORT",
    "GENAI_FLOW_LLM",
    "GENAI_FLOW_API_KEYS",
    "GENAI_FLOW_ALLOWED_BUCKETS",
    "GENAI_FLOW_ALLOWED_ROOTS",
    "GENAI_FLOW_LOG_LEVEL",
    "GENAI_FLOW_LOG_FORMAT",
    "GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES",
    "GENAI_FLOW_MAX_TOKENS",
    "OPENAI_BASE_URL",
    "GENAI_FLOW_EMBED_BASE_URL",
    "GENAI_FLOW_PUBLIC_URL",
]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting from the surrounding environment (the test session's servers set some)."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_match_contract_ports(clean_env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.temporal_address == "127.0.0.1:7233"
    assert s.temporal_ui_port == 8233
    assert s.gateway_port == 8000
    assert s.sim_port == 8001
    assert s.chroma_url == "http://127.0.0.1:8002"
    assert s.redis_url == "redis://127.0.0.1:6379/0"
    assert s.metrics_port == 9464
    assert s.llm is LLMBackend.SIM
    assert s.llm_base_url == "http://127.0.0.1:8001/v1"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GENAI_FLOW_SIM_PORT", "eighty"),
        ("GENAI_FLOW_LLM", "gpt"),
        ("GENAI_FLOW_LOG_LEVEL", "loud"),
        ("GENAI_FLOW_LOG_FORMAT", "xml"),
        ("GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES", "0"),
        ("GENAI_FLOW_MAX_TOKENS", "summarize"),
        ("GENAI_FLOW_MAX_TOKENS", "summarize=0"),
        ("GENAI_FLOW_MAX_TOKENS", "summarize=lots"),
        ("GENAI_FLOW_MAX_TOKENS", "bad step=5"),
        ("TEMPORAL_ADDRESS", "nonsense"),
        ("TEMPORAL_ADDRESS", "http://127.0.0.1:7233"),
        ("TEMPORAL_ADDRESS", "127.0.0.1:99999"),
        ("TEMPORAL_ADDRESS", "127.0.0.1:"),
        ("REDIS_URL", "localhost:6379"),
        ("REDIS_URL", "redis://127.0.0.1:70000/0"),
        ("GENAI_FLOW_CHROMA_URL", "127.0.0.1:8002"),
        ("GENAI_FLOW_CHROMA_URL", "http://"),
        ("OPENAI_BASE_URL", "api.openai.com/v1"),
        ("GENAI_FLOW_EMBED_BASE_URL", "ftp://embed.example/v1"),
        ("GENAI_FLOW_PUBLIC_URL", "gateway.example.com"),
        ("GENAI_FLOW_GATEWAY_PORT", "0"),
        ("GENAI_FLOW_SIM_PORT", "65536"),
    ],
)
def test_invalid_value_names_the_variable(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert name in str(err.value)
    assert value in str(err.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TEMPORAL_ADDRESS", "localhost:7233"),
        ("TEMPORAL_ADDRESS", "my-ns.a1b2c.tmprl.cloud:7233"),
        ("TEMPORAL_ADDRESS", "[::1]:7233"),
        ("REDIS_URL", "rediss://user:pw@redis.example:6380/2"),
        ("REDIS_URL", "unix:///run/redis.sock"),
        ("GENAI_FLOW_CHROMA_URL", "https://chroma.example"),
        ("OPENAI_BASE_URL", "http://[::1]:8080/v1"),
    ],
)
def test_valid_addresses_are_kept(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    s = load_settings()
    assert value in (s.temporal_address, s.redis_url, s.chroma_url, s.openai_base_url)


def test_max_tokens_bound_every_step(clean_env: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    assert defaults.max_tokens_for("summarize") == DEFAULT_MAX_TOKENS["summarize"]
    assert defaults.max_tokens_for("agent.step") == DEFAULT_MAX_TOKENS["default"]  # a step nobody listed
    clean_env.setenv("GENAI_FLOW_MAX_TOKENS", " extract_entities=8 , default=4096,agent.step=300,")
    s = load_settings()
    assert s.max_tokens_for("extract_entities") == 8
    assert s.max_tokens_for("agent.step") == 300
    assert s.max_tokens_for("ingest.embed") == 4096
    assert s.max_tokens_for("summarize") == DEFAULT_MAX_TOKENS["summarize"]  # unlisted steps keep their defaults


def test_comma_lists(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GENAI_FLOW_API_KEYS", "k1, k2,,k3 ")
    clean_env.setenv("GENAI_FLOW_ALLOWED_BUCKETS", "docs,*")
    clean_env.setenv("GENAI_FLOW_ALLOWED_ROOTS", "/srv/a,/srv/b")
    s = load_settings()
    assert s.api_key_values == ["k1", "k2", "k3"]
    assert s.allowed_buckets == ["docs", "*"]
    assert s.allowed_roots == [Path("/srv/a"), Path("/srv/b")]


def test_openai_backend_uses_configured_endpoint(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GENAI_FLOW_LLM", "openai")
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1")
    clean_env.setenv("OPENAI_API_KEY", "secret")
    s = load_settings()
    assert s.llm_base_url == "http://127.0.0.1:11434/v1"
    assert s.llm_api_key == "secret"
    assert "secret" not in repr(s)  # keys are SecretStr: never printed


def test_every_field_has_one_documented_env_name() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = alias.choices[0] if alias is not None and hasattr(alias, "choices") else name.upper()
        assert f"`{env}`" in readme, f"{env} missing from the README's configuration table"


def test_cli_reports_bad_setting_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "genai-flow"), "worker"],
        env={"PATH": "/usr/bin:/bin", "GENAI_FLOW_METRICS_PORT": "nine", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "GENAI_FLOW_METRICS_PORT" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_jobs_with_an_invalid_temporal_address_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "genai-flow"), "jobs"],
        env={"PATH": "/usr/bin:/bin", "TEMPORAL_ADDRESS": "nonsense", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "TEMPORAL_ADDRESS: must be host:port" in done.stderr and "'nonsense'" in done.stderr
    assert "Traceback" not in done.stderr and "tonic" not in done.stderr
