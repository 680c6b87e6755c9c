"""docker-compose.temporal.yml agrees with the settings: services, ports, environment names and values."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from runtime.services import SEARCH_ATTRIBUTES
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.temporal.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = ("worker", "gateway")
DEFAULTS = Settings.model_construct()
# Standard variables read by the AWS SDK itself (CONTRACTS.md: "the standard AWS_* variables").
AWS_NAMES = {"AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"}


def _aliases() -> set[str]:
    names = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
    return names


def _substitute(value: object) -> str:
    # Compose interpolation `${VAR:-default}` resolved to its default, as on a machine with no .env file.
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    return {key: _substitute(value) for key, value in env.items()}


def _published(service: str) -> dict[int, int]:
    """container port -> host port."""
    result = {}
    for mapping in SERVICES[service].get("ports", []):
        host, container = str(mapping).split(":")[-2:]
        result[int(container)] = int(host)
    return result


def test_services_present() -> None:
    expected = {
        "postgresql", "temporal", "temporal-admin-tools", "temporal-ui", "redis", "minio", "minio-setup",
        "chroma", "sim", "worker", "gateway",
    }  # fmt: skip
    assert expected <= set(SERVICES)


def test_long_running_services_have_healthchecks_and_dependencies_exist() -> None:
    for name, service in SERVICES.items():
        if service.get("restart") != "no" and name != "temporal-ui":
            assert "healthcheck" in service, f"{name} has no healthcheck"
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_env_names_are_settings(service: str) -> None:
    known = _aliases() | AWS_NAMES
    unknown = set(_env(service)) - known
    assert not unknown, f"{service} sets variables no setting reads: {sorted(unknown)}"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_env_values_validate_and_point_at_services(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _aliases():
        monkeypatch.delenv(name, raising=False)
    env = _env(service)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    for url in (settings.redis_url, settings.chroma_url, f"//{settings.temporal_address}", settings.llm_base_url):
        host = urlsplit(url).hostname
        assert host in SERVICES, f"{service}: {url} names no service"
    chroma = urlsplit(settings.chroma_url)
    assert chroma.port in _published("chroma"), "Chroma URL must use the container's port"
    assert urlsplit(env["AWS_ENDPOINT_URL_S3"]).hostname == "minio"
    assert settings.allowed_buckets == ["documents"]


def test_published_ports_match_setting_defaults() -> None:
    assert _published("temporal")[7233] == int(DEFAULTS.temporal_address.rsplit(":", 1)[1])
    assert _published("temporal-ui")[8080] == DEFAULTS.temporal_ui_port
    assert _published("gateway")[DEFAULTS.gateway_port] == DEFAULTS.gateway_port
    assert _published("sim")[DEFAULTS.sim_port] == DEFAULTS.sim_port
    assert _published("chroma")[8000] == urlsplit(DEFAULTS.chroma_url).port
    assert _published("redis")[6379] == urlsplit(DEFAULTS.redis_url).port
    gateway = _env("gateway")
    assert int(gateway["GENAI_FLOW_GATEWAY_PORT"]) == DEFAULTS.gateway_port
    assert gateway["GENAI_FLOW_GATEWAY_HOST"] == "0.0.0.0"


def test_worker_scales_and_exposes_metrics() -> None:
    worker = SERVICES["worker"]
    env = _env("worker")
    assert int(env["GENAI_FLOW_METRICS_PORT"]) == DEFAULTS.metrics_port
    assert env["GENAI_FLOW_METRICS_HOST"] == "0.0.0.0"
    assert str(DEFAULTS.metrics_port) in [str(p) for p in worker["expose"]]
    assert "ports" not in worker, "a published port would stop `--scale worker=N`"
    assert worker["deploy"]["replicas"] >= 2
    assert str(DEFAULTS.metrics_port) in " ".join(worker["healthcheck"]["test"])
    # The drain (GENAI_FLOW_WORKER_SHUTDOWN_GRACE_S) must fit in compose's stop grace period.
    assert int(worker["stop_grace_period"].rstrip("s")) > float(env["GENAI_FLOW_WORKER_SHUTDOWN_GRACE_S"])


def test_admin_tools_registers_every_search_attribute() -> None:
    command = SERVICES["temporal-admin-tools"]["command"]
    pairs = {}
    for i, arg in enumerate(command):
        if arg == "--name":
            pairs[command[i + 1]] = command[i + 3]
            assert command[i + 2] == "--type"
    assert pairs == SEARCH_ATTRIBUTES


def test_minio_notifies_the_gateway_webhook() -> None:
    env = _env("minio")
    endpoint = urlsplit(env["MINIO_NOTIFY_WEBHOOK_ENDPOINT_GATEWAY"])
    assert endpoint.hostname == "gateway"
    assert endpoint.port == int(_env("gateway")["GENAI_FLOW_GATEWAY_PORT"])
    assert endpoint.path == "/v1/events/s3"
    assert env["MINIO_NOTIFY_WEBHOOK_ENABLE_GATEWAY"] == "on"
    # The token MinIO sends as `Authorization: Bearer <token>` must be one of the gateway's API keys.
    assert env["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_GATEWAY"] in _env("gateway")["GENAI_FLOW_API_KEYS"].split(",")
    setup = " ".join(SERVICES["minio-setup"]["command"])
    assert "arn:minio:sqs::GATEWAY:webhook" in setup and "local/documents" in setup


def test_app_images_are_built_from_the_dockerfile() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["genai-flow"]' in dockerfile
    assert "uv sync --frozen" in dockerfile
    for service in ("worker", "gateway", "sim"):
        assert SERVICES[service]["build"] == "."
