"""docker-compose.temporal.yml agrees with the settings: services, ports, environment names and values."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from runtime.services import SEARCH_ATTRIBUTES
from runtime.settings import Settings
from tests.dashboards import DASHBOARD, PROMETHEUS, dashboard, prometheus_config

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
        "chroma", "sim", "worker", "gateway", "temporal-schema", "prometheus", "grafana",
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


def _script(service: str) -> str:
    """A one-shot job's shell script as the container runs it (compose's `$$` is a literal `$`)."""
    assert SERVICES[service]["entrypoint"] == ["/bin/sh", "-c"]
    (script,) = SERVICES[service]["command"]
    return str(script).replace("$$", "$")


def _run_with_fake(script: str, tool: str, tmp_path: Path, fail_first: str = "") -> list[list[str]]:
    """Run a job's script with `tool` replaced by a recorder; returns the argument lists it was called with."""
    log = tmp_path / "calls"
    fake = tmp_path / tool
    # The fake fails calls whose arguments contain fail_first (once), to exercise the script's error handling.
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        f'if [ -n "{fail_first}" ] && echo "$*" | grep -q -- "{fail_first}" && [ ! -e {log}.failed ]; then '
        f"touch {log}.failed; exit 1; fi\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    done = subprocess.run(["/bin/sh", "-c", script.replace("sleep 2", "sleep 0")], env=env, timeout=30, check=False)
    assert done.returncode == 0
    return [shlex.split(line) for line in log.read_text().splitlines()]


def test_temporal_is_the_server_image_no_older_than_the_dev_server() -> None:
    def version(image: str) -> tuple[int, ...]:
        return tuple(int(part) for part in image.rsplit(":", 1)[1].split("."))

    images = {name: str(service.get("image", "")) for name, service in SERVICES.items()}
    assert not any("auto-setup" in image for image in images.values()), "temporalio/auto-setup is deprecated upstream"
    assert images["temporal"].startswith("temporalio/server:") and version(images["temporal"]) >= (1, 32)
    assert images["temporal-ui"].startswith("temporalio/ui:") and version(images["temporal-ui"]) >= (2, 54)
    for job in ("temporal-schema", "temporal-admin-tools"):
        assert images[job] == images["temporal"].replace("temporalio/server", "temporalio/admin-tools")
    # Start order: schema -> server -> namespace and search attributes -> the application.
    assert SERVICES["temporal"]["depends_on"]["temporal-schema"]["condition"] == "service_completed_successfully"
    assert SERVICES["temporal-admin-tools"]["depends_on"]["temporal"]["condition"] == "service_healthy"
    for app in APP_SERVICES:
        assert SERVICES[app]["depends_on"]["temporal-admin-tools"]["condition"] == "service_completed_successfully"
    assert _env("temporal")["POSTGRES_SEEDS"] == "postgresql" and _env("temporal")["DB"] == "postgres12"


def test_schema_job_creates_and_migrates_both_databases(tmp_path: Path) -> None:
    calls = _run_with_fake(_script("temporal-schema"), "temporal-sql-tool", tmp_path, fail_first=" create")
    for db, folder in (("temporal", "temporal"), ("temporal_visibility", "visibility")):
        mine = [c for c in calls if c[c.index("--db") + 1] == db]
        assert [c[-1] if c[-1] == "create" else c[c.index("--db") + 2] for c in mine] == [
            "create",
            "setup-schema",
            "update-schema",
        ], mine
        assert mine[2][-1] == f"/etc/temporal/schema/postgresql/v12/{folder}/versioned"
        assert all(c[c.index("--ep") + 1] == "postgresql" and "postgres12" in c for c in mine)


def test_admin_tools_creates_the_namespace_and_registers_the_search_attributes(tmp_path: Path) -> None:
    calls = _run_with_fake(_script("temporal-admin-tools"), "temporal", tmp_path, fail_first="search-attribute")
    assert calls[0][:3] == ["operator", "namespace", "describe"]
    creates = [c for c in calls if c[:3] == ["operator", "search-attribute", "create"]]
    assert len(creates) == 2, "a failed registration (namespace not yet propagated) is retried"
    args = creates[-1]
    pairs = {args[i + 1]: args[i + 3] for i, arg in enumerate(args) if arg == "--name"}
    # The same set the dev server registers (runtime/services.py), which is CONTRACTS.md's six.
    assert pairs == SEARCH_ATTRIBUTES and len(pairs) == 6


def test_prometheus_scrapes_workers_gateway_and_temporal() -> None:
    config = prometheus_config()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    worker = jobs["genai-flow-worker"]["dns_sd_configs"][0]
    assert worker["names"] == ["worker"] and worker["port"] == int(_env("worker")["GENAI_FLOW_METRICS_PORT"])
    assert jobs["genai-flow-gateway"]["static_configs"][0]["targets"] == [
        f"gateway:{_env('gateway')['GENAI_FLOW_GATEWAY_PORT']}"
    ]
    server_port = _env("temporal")["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    assert jobs["temporal-server"]["static_configs"][0]["targets"] == [f"temporal:{server_port}"]
    mounts = SERVICES["prometheus"]["volumes"]
    assert f"./{PROMETHEUS.relative_to(ROOT)}:/etc/prometheus/prometheus.yml:ro" in mounts


def test_grafana_provisions_prometheus_and_the_dashboard() -> None:
    grafana = SERVICES["grafana"]
    mounts = {m.split(":")[1]: ROOT / m.split(":")[0] for m in grafana["volumes"] if m.startswith("./")}
    provisioning = mounts["/etc/grafana/provisioning"]
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and "9090:9090" in SERVICES["prometheus"]["ports"]
    provider = yaml.safe_load((provisioning / "dashboards" / "genai-flow.yml").read_text())["providers"][0]
    assert mounts[provider["options"]["path"]] == DASHBOARD.parent
    home = _env("grafana")["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mounts[str(Path(home).parent)] / Path(home).name == DASHBOARD
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    assert panels and all(p["datasource"]["uid"] == datasource["uid"] for p in panels)
    assert all(t["datasource"]["uid"] == datasource["uid"] for p in panels for t in p["targets"])


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
