"""Encryption at rest: with GENAI_FLOW_ENCRYPTION_KEYS set, a question and its answer rest nowhere in the clear under
GENAI_FLOW_HOME but in Chroma; runs written under one key still read after rotation; a missing key is named."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from gateway.auth import key_id
from runtime.at_rest import AtRestKeyError, at_rest_for
from runtime.claims import ClaimStore
from runtime.codec import PayloadDecryptionError
from runtime.keys import RedisKeys
from runtime.objectstore import ObjectStore
from runtime.redis import redis_client
from runtime.settings import Settings
from runtime.temporal import connect
from schemas.answer import AnswerRequest
from schemas.jobs import JobStatus, Pipeline
from starter.cli.corpus import ingest_folder
from starter.client import GenAIFlowClient
from tests.conftest import GatewayUnderTest
from tests.helpers import private_settings, running_workers


def new_key(name: str) -> str:
    return f"{name}:{base64.b64encode(os.urandom(32)).decode()}"


def test_seal_open_rotation_and_a_missing_key() -> None:
    old, new = new_key("k-old"), new_key("k-new")
    before = at_rest_for([old])
    sealed = before.seal('{"content": "Amelia Hartwell"}', "p:idem:job/answer")
    assert "Amelia" not in sealed and sealed.startswith("gfx1:k-old:")
    after = at_rest_for([new, old])
    assert after.open(sealed, "p:idem:job/answer") == '{"content": "Amelia Hartwell"}'  # rotation: old still opens
    assert after.seal("x", "w").startswith("gfx1:k-new:")
    assert after.open("written before encryption", "w") == "written before encryption"
    with pytest.raises(AtRestKeyError, match=r"'k-old'.*GENAI_FLOW_ENCRYPTION_KEYS"):
        at_rest_for([new]).open(sealed, "p:idem:job/answer")
    with pytest.raises(AtRestKeyError, match="authentication"):  # moved to another key: refused
        before.open(sealed, "p:idem:other/answer")
    blob = before.seal_bytes(b"chunk text", "file:///claims/run/chunks.json")
    assert b"chunk text" not in blob and after.open_bytes(blob, "file:///claims/run/chunks.json") == b"chunk text"
    assert at_rest_for([]).seal("plain", "w") == "plain"


async def test_claims_rest_sealed(tmp_path: Path) -> None:
    store = ObjectStore()
    try:
        claims = ClaimStore(store, tmp_path.as_uri(), at_rest_for([new_key("k1")]))
        ref = await claims.put("run-1/text.txt", b"The Quillon beacon was lit in 1977.")
        assert b"Quillon" not in (tmp_path / "run-1" / "text.txt").read_bytes()
        assert await claims.get(ref) == b"The Quillon beacon was lit in 1977."
    finally:
        await store.close()


def _files_holding(root: Path, needles: list[bytes], skip: tuple[str, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if not path.is_file() or any(part in skip for part in path.relative_to(root).parts):
            continue
        data = path.read_bytes()
        hits = [n.decode() for n in needles if n in data]
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


async def test_nothing_rests_in_the_clear_and_rotation_keeps_old_runs_readable(
    servers: dict[str, str],
    state_dir: Path,
    unique: str,
    tmp_path: Path,
    gateway_factory: Callable[..., GatewayUnderTest],
) -> None:
    key_a, key_b = new_key(f"a{unique}"), new_key(f"b{unique}")
    settings: Settings = private_settings(unique).model_copy(update={"encryption_keys": [key_a]})
    # A fact no other test knows, so its sentences can only come from this run.
    tag = f"Q{unique}"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "beacon.md").write_text(
        f"# The {tag} beacon\n\nThe {tag} beacon was lit in 1977 by Marisol {tag}ovna at Port Ebon. "
        f"Its lamp burns {tag} oil.\n\nThe beacon shines 40 kilometres out to sea."
    )
    collection = f"beacon-{unique}"
    marker = f"marker-{uuid.uuid4().hex}"
    api_key = f"api-{unique}-{'x' * 24}"
    temporal = await connect(settings)
    async with running_workers(temporal, settings) as flow:
        await ingest_folder(flow, tmp_path / "docs", collection)
        request = AnswerRequest(question=f"Who lit the {tag} beacon? {marker}", collection=collection)
        started = await flow.start(Pipeline.ANSWER, request, owner=key_id(api_key))
        info = await asyncio.wait_for(flow.wait(started.job_id), 120)
    assert info.status is JobStatus.COMPLETED, info.error
    answer = str(info.result["answer"])  # type: ignore[index]
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", answer) if tag in s]
    assert sentences, answer

    # Redis writes its RDB on SAVE (the AOF is always on): then scan every file of the stack's home.
    plain = redis_client(settings)
    try:
        await plain.save()
        idem = await plain.get(RedisKeys.of(settings).idempotency(f"{started.job_id}/generate_answer"))
    finally:
        await plain.aclose()
    assert idem is not None and idem.startswith(f"completed:gfx1:a{unique}:")
    # Chroma holds chunk text by design (it must search it); the simulator stands for the model provider.
    leaks = _files_holding(state_dir, [marker.encode(), *(s.encode() for s in sentences)], skip=("chroma",))
    leaks = {path: hits for path, hits in leaks.items() if not path.startswith("logs/sim")}
    assert not leaks, leaks

    # The stack restarts with B encrypting and A kept for reading: the run still reads, over HTTP too.
    env = {
        "GENAI_FLOW_API_KEYS": api_key,
        "GENAI_FLOW_KEY_PREFIX": settings.key_prefix,
        "GENAI_FLOW_TASK_QUEUE_PREFIX": settings.task_queue_prefix,
    }
    rotated = gateway_factory(**env, GENAI_FLOW_ENCRYPTION_KEYS=f"{key_b},{key_a}")
    auth = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=rotated.url, timeout=30) as http:
        job = await http.get(f"/v1/jobs/{started.job_id}", headers=auth)
        assert job.status_code == 200 and job.json()["result"]["answer"] == answer
        events = await http.get(f"/v1/jobs/{started.job_id}/events", headers=auth)
        assert events.status_code == 200 and "event: token" in events.text and "job.completed" in events.text
    ba = settings.model_copy(update={"encryption_keys": [key_b, key_a]})
    streamed = [e async for e in GenAIFlowClient(await connect(ba), ba).events(started.job_id)]
    assert any(e.type.value == "token" for e in streamed)

    # A process without A: reads fail with a message naming A (HTTP: a problem, never a crash or a hang).
    only_b = settings.model_copy(update={"encryption_keys": [key_b]})
    with pytest.raises(PayloadDecryptionError, match=f"a{unique}"):
        await GenAIFlowClient(await connect(only_b), only_b).status(started.job_id)
    missing = gateway_factory(**env, GENAI_FLOW_ENCRYPTION_KEYS=key_b)
    async with httpx.AsyncClient(base_url=missing.url, timeout=30) as http:
        job = await http.get(f"/v1/jobs/{started.job_id}", headers=auth)
        assert job.headers["content-type"] == "application/problem+json" and f"a{unique}" in job.json()["detail"]
        assert (await http.get("/healthz")).status_code == 200  # the gateway is up and stays up
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "status", started.job_id],
        env={**os.environ, "GENAI_FLOW_ENCRYPTION_KEYS": key_b},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and f"a{unique}" in done.stderr and "Traceback" not in done.stderr, done.stderr
