"""`genai-flow doctor` against real servers: each broken component named with its fix, exit codes per the contract."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client

from runtime import services
from runtime.processes import ManagedProcess, free_port
from schemas.doctor import CheckStatus, DoctorReport, Finding
from tests.helpers import private_settings, running_workers, sim_ledger
from tests.test_local_backend import write_manifest

ROOT = Path(__file__).resolve().parent.parent


def doctor_env(tmp: Path, **overrides: str) -> dict[str, str]:
    """The session's servers (in os.environ), ports `up` would take moved off the shared defaults, no S3."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "GENAI_FLOW_ALLOWED_BUCKETS"}
    env.pop("GENAI_FLOW_ENCRYPTION_KEYS", None)
    env.update({
        "GENAI_FLOW_HOME": str(tmp / "home"),
        "GENAI_FLOW_TEMPORAL_UI_PORT": str(free_port()),
        "GENAI_FLOW_METRICS_PORT": str(free_port()),
        "GENAI_FLOW_GATEWAY_PORT": str(free_port()),
        **overrides,
    })  # fmt: skip
    return env


async def doctor(env: dict[str, str], *extra: str) -> tuple[int, DoctorReport, str]:
    """Run `genai-flow doctor --json`; (exit code, the report, stderr). Async, so in-process workers keep polling."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter.cli", "doctor", "--json", *extra, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    report = DoctorReport.model_validate_json(out)
    assert proc.returncode == report.exit_code
    return report.exit_code, report, err.decode()


def finding(report: DoctorReport, check: str) -> Finding:
    """The one finding of a check."""
    matches = [f for f in report.findings if f.check == check]
    assert len(matches) == 1, report.model_dump_json(indent=1)
    return matches[0]


async def test_all_good_with_a_worker_running(servers: dict[str, str], client: Client, unique: str,
                                              tmp_path: Path) -> None:  # fmt: skip
    settings = private_settings(unique)
    async with running_workers(client, settings):
        code, report, err = await doctor(doctor_env(tmp_path, GENAI_FLOW_TASK_QUEUE_PREFIX=settings.task_queue_prefix))
    assert code == 0, report.model_dump_json(indent=1) + err
    assert not report.failures
    checked = {f.check for f in report.findings if f.status is CheckStatus.OK}
    assert {"settings", "temporal", "namespace", "search attributes", "redis", "chroma", "model chat",
            "model embeddings", "ports"} <= checked  # fmt: skip
    assert f"worker {settings.task_queue_prefix}genai-workflows" in checked
    assert f"worker {settings.task_queue_prefix}genai-inference" in checked
    # The session's Temporal, Chroma and simulator hold ports `up` would take: they are ours, so that is fine.
    assert "held by that genai-flow service" in finding(report, "ports").detail


async def test_all_good_on_the_openai_backend(servers: dict[str, str], client: Client, unique: str,
                                              tmp_path: Path) -> None:  # fmt: skip
    """`GENAI_FLOW_LLM=openai` against any OpenAI-compatible endpoint: here the simulator, at its /v1 root."""
    settings = private_settings(unique)
    endpoint = f"{servers['sim_url']}/v1"
    env = doctor_env(tmp_path, GENAI_FLOW_TASK_QUEUE_PREFIX=settings.task_queue_prefix, GENAI_FLOW_LLM="openai",
                     OPENAI_BASE_URL=endpoint, OPENAI_API_KEY="sk-test")  # fmt: skip
    async with running_workers(client, settings):
        code, report, err = await doctor(env)
    assert code == 0, report.model_dump_json(indent=1) + err
    assert endpoint in finding(report, "model chat").detail and endpoint in finding(report, "model embeddings").detail


async def test_all_good_on_the_local_backend(servers: dict[str, str], client: Client, unique: str, tmp_path: Path,
                                             sim_factory: Callable[..., str]) -> None:  # fmt: skip
    """`GENAI_FLOW_LLM=local` without llama-server: two simulators stand in on the chat and embeddings ports.

    Embeddings are asked of the embeddings server (llama-server's chat port answers them 501), and the two ports
    are the stack's own model servers (they serve the models `up` would start there), not "already in use".
    """
    write_manifest(tmp_path / "llama")
    chat_url, embed_url = sim_factory(), sim_factory()
    settings = private_settings(unique)
    env = doctor_env(tmp_path, GENAI_FLOW_TASK_QUEUE_PREFIX=settings.task_queue_prefix, GENAI_FLOW_LLM="local",
                     GENAI_FLOW_LOCAL_LLM_DIR=str(tmp_path / "llama"),
                     GENAI_FLOW_LOCAL_LLM_PORT=chat_url.rsplit(":", 1)[1],
                     GENAI_FLOW_LOCAL_EMBED_PORT=embed_url.rsplit(":", 1)[1],
                     GENAI_FLOW_CHAT_MODEL="sim-chat", GENAI_FLOW_EMBED_MODEL="sim-embed")  # fmt: skip
    async with running_workers(client, settings):
        code, report, err = await doctor(env)
    assert code == 0, report.model_dump_json(indent=1) + err
    assert "GENAI_FLOW_LOCAL_LLM_PORT, held by that genai-flow service" in finding(report, "ports").detail
    assert "GENAI_FLOW_LOCAL_EMBED_PORT, held by that genai-flow service" in finding(report, "ports").detail
    endpoints = {url: {e.calls[0].endpoint for e in (await sim_ledger(url)).entries.values()}
                 for url in (chat_url, embed_url)}  # fmt: skip
    assert endpoints == {chat_url: {"chat"}, embed_url: {"embeddings"}}


async def test_no_worker_polling_is_misconfigured_with_the_command(servers: dict[str, str], unique: str,
                                                                   tmp_path: Path) -> None:  # fmt: skip
    prefix = f"t{unique}-"
    code, report, _ = await doctor(doctor_env(tmp_path, GENAI_FLOW_TASK_QUEUE_PREFIX=prefix))
    assert code == 1
    missing = finding(report, f"worker {prefix}genai-workflows")
    assert missing.status is CheckStatus.MISCONFIGURED
    assert (
        missing.fix and "genai-flow worker" in missing.fix and f"GENAI_FLOW_TASK_QUEUE_PREFIX={prefix}" in missing.fix
    )


async def test_redis_stopped_is_unreachable_exit_5(servers: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    redis = services.redis_server(tmp_path, port).start(timeout=30)
    env = doctor_env(tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    try:
        _, report, _ = await doctor(env)
        assert finding(report, "redis").status is CheckStatus.OK
    finally:
        redis.stop()
    code, report, _ = await doctor(env)
    assert code == 5
    down = finding(report, "redis")
    assert down.status is CheckStatus.UNREACHABLE and f"127.0.0.1:{port}" in down.detail
    assert down.fix and "REDIS_URL" in down.fix and "genai-flow up" in down.fix
    assert [f.check for f in report.findings if f.status is CheckStatus.UNREACHABLE] == ["redis"]


async def test_wrong_openai_base_url(servers: dict[str, str], tmp_path: Path) -> None:
    nothing_there = f"http://127.0.0.1:{free_port()}/v1"
    env = doctor_env(tmp_path, GENAI_FLOW_LLM="openai", OPENAI_BASE_URL=nothing_there, OPENAI_API_KEY="sk-test")
    code, report, _ = await doctor(env)
    assert code == 5
    down = finding(report, "model chat")
    assert down.status is CheckStatus.UNREACHABLE and nothing_there in down.detail
    assert down.fix and "OPENAI_BASE_URL" in down.fix

    # A server answers, but not at an OpenAI API root (the simulator without /v1): reachable, misconfigured.
    env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{servers['GENAI_FLOW_SIM_PORT']}"
    code, report, _ = await doctor(env)
    assert code == 1
    wrong = finding(report, "model chat")
    assert wrong.status is CheckStatus.MISCONFIGURED and "404" in wrong.detail
    assert wrong.fix and "OPENAI_BASE_URL" in wrong.fix and "/v1" in wrong.fix


@pytest.fixture
def temporal_without_dead_lettered(tmp_path: Path) -> Iterator[str]:
    """A dev server started without the DeadLettered search attribute; yields its address."""
    port = free_port()
    proc = services.temporal_server(tmp_path, port, ui_port=None)
    argv = list(proc.argv)
    at = argv.index("DeadLettered=Bool")
    del argv[at - 1 : at + 1]
    server = ManagedProcess("temporal", argv, proc.ready, proc.log_path).start(timeout=90)
    yield f"127.0.0.1:{port}"
    server.stop()


async def test_unregistered_search_attribute_names_the_command(
    servers: dict[str, str], tmp_path: Path, temporal_without_dead_lettered: str
) -> None:
    env = doctor_env(tmp_path, TEMPORAL_ADDRESS=temporal_without_dead_lettered)
    code, report, _ = await doctor(env)
    assert code == 1
    bad = finding(report, "search attributes")
    assert bad.status is CheckStatus.MISCONFIGURED and "DeadLettered (missing, needs Bool)" in bad.detail
    assert bad.fix == (f"temporal operator search-attribute create --namespace default --address "
                       f"{temporal_without_dead_lettered} --name DeadLettered --type Bool")  # fmt: skip

    # The printed fix works: run it, and the check passes.
    temporal = services.find_binary("temporal", services.TEMPORAL_HINT)
    fixed = await asyncio.create_subprocess_exec(temporal, *bad.fix.split()[1:])
    assert await fixed.wait() == 0
    _, report, _ = await doctor(env)
    assert finding(report, "search attributes").status is CheckStatus.OK


async def test_invalid_settings_and_keys_exit_2(servers: dict[str, str], tmp_path: Path) -> None:
    code, report, _ = await doctor(doctor_env(tmp_path, GENAI_FLOW_LLM="gpt"))
    assert code == 2
    assert [f.check for f in report.findings] == ["settings"] and "GENAI_FLOW_LLM" in report.findings[0].detail

    code, report, _ = await doctor(doctor_env(tmp_path, GENAI_FLOW_ENCRYPTION_KEYS="k1:c2hvcnQ="))
    assert code == 2
    keys = finding(report, "encryption keys")
    assert keys.status is CheckStatus.INVALID and "5 bytes, needs 32" in keys.detail
    assert keys.fix and "GENAI_FLOW_ENCRYPTION_KEYS" in keys.fix and "os.urandom(32)" in keys.fix


async def test_s3_allowed_bucket_missing_then_present(servers: dict[str, str], tmp_path: Path) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        creds = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
        env = doctor_env(tmp_path, AWS_ENDPOINT_URL_S3=endpoint, GENAI_FLOW_ALLOWED_BUCKETS="docs-in", **creds)
        _, report, _ = await doctor(env)
        missing = finding(report, "s3 bucket docs-in")
        assert missing.status is CheckStatus.MISCONFIGURED and "does not exist" in missing.detail
        assert missing.fix and "GENAI_FLOW_ALLOWED_BUCKETS" in missing.fix

        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")  # fmt: skip
        s3.create_bucket(Bucket="docs-in")
        _, report, _ = await doctor(env)
        assert finding(report, "s3 bucket docs-in").status is CheckStatus.OK
    finally:
        moto.stop()


async def test_up_prints_doctor_findings_when_a_service_cannot_start(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        env = doctor_env(tmp_path, TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}", REDIS_URL=f"redis://127.0.0.1:"
                         f"{free_port()}/0", GENAI_FLOW_CHROMA_URL=f"http://127.0.0.1:{taken}",
                         GENAI_FLOW_SIM_PORT=str(free_port()))  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "starter.cli", "up", env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 1
    text = out.decode()
    assert "genai-flow doctor found:" in text and f"port {taken} on 127.0.0.1 is already in use" in text
    assert "fix: stop what listens there" in text and "GENAI_FLOW_CHROMA_URL" in text
    assert "error: cannot start the stack" in err.decode()
