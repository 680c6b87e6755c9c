"""What `genai-flow up` runs, derived from settings: components, their endpoints, and the ports they will claim."""

from __future__ import annotations

import shlex
import socket
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from runtime import child_secrets, services
from runtime.hosts import is_loopback
from runtime.modules import module
from runtime.processes import ManagedProcess, ServiceError, port_open
from runtime.redis import redis_answers
from runtime.settings import LLMBackend, Settings

STARTED, REUSED, EXTERNAL = "started", "reused", "external"


class PortTakenError(ServiceError):
    """A port the stack needs is in use or claimed twice: the message names the port and the setting to change."""


@dataclass(frozen=True)
class PortClaim:
    """A port a component will listen on, and the setting that chooses it."""

    host: str
    port: int
    setting: str


@dataclass
class Component:
    """One row of the stack: a process to start, or a service used as it is."""

    name: str
    endpoint: str
    setting: str
    status: str
    process: ManagedProcess | None = None
    ports: list[PortClaim] = field(default_factory=list)
    note: str = ""


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """(host, port) of a URL or a bare `host:port`."""
    parts = urlsplit(address if "//" in address else f"//{address}")
    return parts.hostname or "127.0.0.1", parts.port or default_port


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (bind test with SO_REUSEADDR, so TIME_WAIT leftovers don't count)."""
    if port_open(host, port, timeout=0.2):
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def child_env(settings: Settings) -> dict[str, str]:
    """Environment for child processes so they see exactly the settings `up` resolved."""
    return {
        "TEMPORAL_ADDRESS": settings.temporal_address,
        "TEMPORAL_NAMESPACE": settings.temporal_namespace,
        "REDIS_URL": settings.redis_url,
        "GENAI_FLOW_CHROMA_URL": settings.chroma_url,
        "GENAI_FLOW_HOME": str(settings.home),
        "GENAI_FLOW_LLM": settings.llm.value,
        "GENAI_FLOW_SIM_PORT": str(settings.sim_port),
        "GENAI_FLOW_LOCAL_LLM_PORT": str(settings.local_llm_port),
        "GENAI_FLOW_LOCAL_EMBED_PORT": str(settings.local_embed_port),
        "GENAI_FLOW_CHAT_MODEL": settings.chat_model,
        "GENAI_FLOW_EMBED_MODEL": settings.embed_model,
        **({"GENAI_FLOW_EMBED_BASE_URL": settings.embed_base_url} if settings.embed_base_url else {}),
        "GENAI_FLOW_METRICS_HOST": settings.metrics_host,
        "GENAI_FLOW_METRICS_PORT": str(settings.metrics_port),
        "GENAI_FLOW_GATEWAY_HOST": settings.gateway_host,
        "GENAI_FLOW_GATEWAY_PORT": str(settings.gateway_port),
        "GENAI_FLOW_TEMPORAL_UI_PORT": str(settings.temporal_ui_port),
    }


def web_ui_url(settings: Settings) -> str | None:
    """The Temporal Web UI's workflow list, when `up` runs the dev server."""
    host, _ = host_port(settings.temporal_address, 7233)
    if not is_loopback(host):
        return None
    return f"http://{_url_host(host)}:{settings.temporal_ui_port}/namespaces/{settings.temporal_namespace}/workflows"


def gateway_url(settings: Settings) -> str:
    """Where a browser on this machine reaches the gateway `up` starts (GENAI_FLOW_PUBLIC_URL when set)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return f"http://{_url_host(_probe_host(settings.gateway_host))}:{settings.gateway_port}"


def console_url(settings: Settings) -> str:
    """The gateway's web console (its job list; every page asks for an API key first)."""
    return f"{gateway_url(settings)}/ui/jobs"


def _probe_host(host: str) -> str:
    # A wildcard bind (0.0.0.0 / ::) is reachable, and so health-checked, on loopback.
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", module("starter.cli"), *args]


def _temporal(settings: Settings, state: Path) -> list[Component]:
    host, port = host_port(settings.temporal_address, 7233)
    if not is_loopback(host):
        return [Component("temporal", settings.temporal_address, "TEMPORAL_ADDRESS", EXTERNAL)]
    codec = f"{gateway_url(settings)}/codec" if settings.encryption_keys else None
    proc = services.temporal_server(state, port, settings.temporal_ui_port, host, settings.temporal_namespace, codec)
    ui = web_ui_url(settings) or ""
    return [
        Component(
            "temporal",
            f"{_url_host(host)}:{port}",
            "TEMPORAL_ADDRESS",
            STARTED,
            proc,
            [
                PortClaim(host, port, "TEMPORAL_ADDRESS"),
                PortClaim(host, settings.temporal_ui_port, "GENAI_FLOW_TEMPORAL_UI_PORT"),
            ],
            note=f"state {state / 'temporal.db'}",
        ),
        Component("temporal web ui", ui, "GENAI_FLOW_TEMPORAL_UI_PORT", STARTED, note="served by the dev server"),
    ]


def _redis(settings: Settings, state: Path) -> Component:
    host, port = host_port(settings.redis_url, 6379)
    if redis_answers(settings.redis_url):
        return Component("redis", settings.redis_url, "REDIS_URL", REUSED, note="already answering")
    if not is_loopback(host):
        raise ServiceError(f"Redis at REDIS_URL={settings.redis_url} does not answer; start it or change REDIS_URL")
    proc = services.redis_server(state, port, host)
    return Component(
        "redis", settings.redis_url, "REDIS_URL", STARTED, proc, [PortClaim(host, port, "REDIS_URL")], note="AOF on"
    )


def _chroma(settings: Settings, state: Path) -> Component:
    host, port = host_port(settings.chroma_url, 8002)
    if not is_loopback(host):
        return Component("chroma", settings.chroma_url, "GENAI_FLOW_CHROMA_URL", EXTERNAL)
    proc = services.chroma_server(state, port, host)
    return Component(
        "chroma",
        settings.chroma_url,
        "GENAI_FLOW_CHROMA_URL",
        STARTED,
        proc,
        [PortClaim(host, port, "GENAI_FLOW_CHROMA_URL")],
    )


def _model(settings: Settings, state: Path) -> list[Component]:
    if settings.llm is LLMBackend.LOCAL:
        return _local_models(settings, state)
    if settings.llm is not LLMBackend.SIM:
        chat = Component("model (openai)", settings.llm_base_url, "OPENAI_BASE_URL", EXTERNAL)
        if settings.embed_url == settings.llm_base_url:
            return [chat]
        return [chat, Component("embeddings (openai)", settings.embed_url, "GENAI_FLOW_EMBED_BASE_URL", EXTERNAL)]
    proc = services.simulator(state, settings.sim_port, shlex.split(settings.sim_flags))
    return [
        Component(
            "model (simulator)",
            settings.llm_base_url,
            "GENAI_FLOW_SIM_PORT",
            STARTED,
            proc,
            [PortClaim("127.0.0.1", settings.sim_port, "GENAI_FLOW_SIM_PORT")],
        )
    ]


def _local_models(settings: Settings, state: Path) -> list[Component]:
    """Two llama-server processes (chat; embeddings) with the models `make local-llm` prepared."""
    from launcher.local_models import load_manifest

    manifest = load_manifest(settings)
    logs = state / "logs"

    def server(kind: str, model: str, served: Path, port: int, setting: str, url: str) -> Component:
        proc = services.llama_server(
            manifest.llama_server,
            served,
            model,
            port,
            logs / f"llama-{kind}.log",
            embeddings=kind == "embed",
            chat_template=manifest.chat.chat_template if kind == "chat" else None,
        )
        label = "chat" if kind == "chat" else "embeddings"
        return Component(
            f"model (llama.cpp {label})",
            url,
            setting,
            STARTED,
            proc,
            [PortClaim("127.0.0.1", port, setting)],
            note=f"{model}: {served.name}",
        )

    chat_port, embed_port = settings.local_llm_port, settings.local_embed_port
    chat = server(
        "chat", settings.chat_model, manifest.chat.path, chat_port, "GENAI_FLOW_LOCAL_LLM_PORT", settings.llm_base_url
    )
    if settings.embed_base_url:  # embeddings served elsewhere: use them as they are
        return [chat, Component("embeddings", settings.embed_url, "GENAI_FLOW_EMBED_BASE_URL", EXTERNAL)]
    embed_setting = "GENAI_FLOW_LOCAL_EMBED_PORT"
    return [
        chat,
        server("embed", settings.embed_model, manifest.embed.path, embed_port, embed_setting, settings.embed_url),
    ]


def _worker(settings: Settings, state: Path) -> Component:
    from workers.registry import declared_queues  # imports workflow/activity modules: only when planning

    url = f"http://{_url_host(settings.metrics_host)}:{settings.metrics_port}/metrics"
    queues = declared_queues()
    host, port = settings.metrics_host, settings.metrics_port
    probe = _probe_host(host)
    proc = ManagedProcess(
        "worker",
        _cli("worker"),
        lambda: port_open(probe, port),
        state / "logs" / "worker.log",
        secrets=child_secrets.worker_secrets(),
    )
    return Component(
        "worker",
        url,
        "GENAI_FLOW_METRICS_PORT",
        STARTED,
        proc,
        [PortClaim(host, port, "GENAI_FLOW_METRICS_PORT")],
        note=", ".join(queues),
    )


def _gateway(settings: Settings, state: Path) -> Component:
    host, port = settings.gateway_host, settings.gateway_port
    url = f"http://{_url_host(host)}:{port}"
    probe = _probe_host(host)
    proc = ManagedProcess(
        "gateway",
        _cli("gateway"),
        lambda: services.http_ok(f"http://{_url_host(probe)}:{port}/healthz"),
        state / "logs" / "gateway.log",
        secrets=child_secrets.GATEWAY,
    )
    return Component(
        "gateway", url, "GENAI_FLOW_GATEWAY_PORT", STARTED, proc, [PortClaim(host, port, "GENAI_FLOW_GATEWAY_PORT")]
    )


def plan(settings: Settings) -> list[Component]:
    """Every component in start order (dependencies first); missing binaries raise ServiceError with the fix."""
    state = settings.home
    state.mkdir(parents=True, exist_ok=True)
    components = [
        _redis(settings, state),
        *_temporal(settings, state),
        _chroma(settings, state),
        *_model(settings, state),
        _worker(settings, state),
        _gateway(settings, state),
    ]
    env = child_env(settings)
    for component in components:
        if component.process is not None:
            component.process.env = {**(component.process.env or {}), **env}
    return components


def port_problems(components: list[Component], ours: Collection[PortClaim] = ()) -> list[str]:
    """What stands in the way of the ports the components claim ("<problem>: <fix>"); claims in `ours` are held
    by the very component `up` would start there (a running stack), which is fine."""
    problems: list[str] = []
    seen: dict[int, str] = {}
    for claim in (claim for component in components for claim in component.ports):
        if claim.port in seen:
            problems.append(f"{seen[claim.port]} and {claim.setting} both use port {claim.port}: change one of them")
            continue
        seen[claim.port] = claim.setting
        if claim not in ours and not port_free(claim.host, claim.port):
            problems.append(
                f"port {claim.port} on {claim.host} is already in use: stop what listens there "
                f"(`ss -ltnp 'sport = :{claim.port}'` shows it) or set {claim.setting} to a free port"
            )
    return problems


def check_ports(components: list[Component]) -> None:
    """Fail before starting anything when a needed port is taken or claimed by two settings."""
    problems = port_problems(components)
    if problems:
        raise PortTakenError("cannot start the stack:\n  " + "\n  ".join(problems))
