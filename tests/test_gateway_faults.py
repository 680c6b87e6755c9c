"""A streaming step that crashes mid-stream: what an SSE consumer assembles still equals the final answer exactly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from runtime.processes import free_port
from starter.events import StreamedText
from tests.conftest import GatewayUnderTest
from tests.helpers import index_facts
from tests.sse import events


def _worker(gw: GatewayUnderTest, sim_port: str, fault: str | None, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GENAI_FLOW_TASK_QUEUE_PREFIX": gw.settings.task_queue_prefix,
        "GENAI_FLOW_KEY_PREFIX": gw.settings.key_prefix,
        "GENAI_FLOW_METRICS_PORT": str(free_port()),
        "GENAI_FLOW_SIM_PORT": sim_port,
        "GENAI_FLOW_CROSS_JOB_CACHE": "false",
    }
    env.pop("GENAI_FLOW_FAULT_POINT", None)
    if fault:
        env["GENAI_FLOW_FAULT_POINT"] = fault
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "starter.cli", "worker"], env=env, stdout=out, stderr=out)


async def test_mid_stream_crash_leaves_no_doubled_text(
    gateway_factory: Callable[..., GatewayUnderTest], sim_factory: Callable[..., str], tmp_path: Path
) -> None:
    gw = gateway_factory()
    slow_sim = sim_factory("--tps", "40")  # tokens trickle, so the crash lands in the middle of the answer
    collection = f"facts-{gw.settings.key_prefix}"
    await index_facts(tmp_path, collection, gw.settings)
    crashing = _worker(gw, slow_sim.rsplit(":", 1)[1], "generate_answer:mid_stream", tmp_path / "worker1.log")
    healthy: subprocess.Popen[bytes] | None = None
    question = f"Who commissioned the Zephyr reactor? ({uuid.uuid4().hex[:6]})"
    try:
        async with httpx.AsyncClient(base_url=gw.url, headers=gw.auth(), timeout=180) as http:
            started = await http.post("/v1/answers", json={"question": question, "collection": collection})
            assert started.status_code == 202, started.text
            job = started.json()["job_id"]
            assembled = StreamedText()
            kinds: list[str] = []
            token_attempts: set[int] = set()
            async with http.stream("GET", f"/v1/jobs/{job}/events") as stream:
                async for item in events(stream):
                    if item.comment is not None:
                        if crashing.poll() is not None and healthy is None:
                            # The first worker died mid-answer: a second one takes the retry.
                            healthy = _worker(gw, slow_sim.rsplit(":", 1)[1], None, tmp_path / "worker2.log")
                        continue
                    kinds.append(item.event)
                    event = item.data
                    assembled.apply_raw(item.event, event["step"], event["data"])
                    if item.event == "token":
                        token_attempts.add(event["data"]["attempt"])
                    if item.event in ("job.completed", "job.failed", "job.dead_lettered"):
                        final = event["data"]
            assert crashing.returncode == 75, (tmp_path / "worker1.log").read_text()[-2000:]
    finally:
        for proc in (crashing, healthy):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                await asyncio.to_thread(proc.wait, 30)
    assert kinds[-1] == "job.completed", kinds
    answer = final["result"]["answer"]
    assert "Amelia Hartwell" in answer
    assert "step.retrying" in kinds and token_attempts >= {1, 2}
    # The partial text of attempt 1 was streamed, then dropped: the consumer's text is the answer, exactly once.
    assert assembled.text == answer
