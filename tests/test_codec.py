"""Payload encryption: the AES-GCM codec, key rotation, and a job whose history holds no plaintext on the server."""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from gateway.auth import key_id
from runtime.codec import EncryptionCodec, EncryptionKeyError, PayloadDecryptionError, parse_keys
from runtime.settings import Settings, SettingsError, load_settings
from runtime.temporal import connect
from schemas.answer import AnswerRequest
from schemas.jobs import JobStatus, Pipeline
from tests.conftest import GatewayUnderTest
from tests.helpers import index_facts, private_settings, running_workers


def new_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


async def test_round_trip_rotation_and_tampering() -> None:
    old, new = new_key("k1"), new_key("k2")
    before = EncryptionCodec(parse_keys([old]))
    sealed = await before.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'{"q": "secret"}')])
    assert b"secret" not in sealed[0].SerializeToString()
    assert sealed[0].metadata["encryption-key-id"] == b"k1"
    # Rotation: the new key encrypts, the old one still decrypts what it sealed.
    after = EncryptionCodec(parse_keys([new, old]))
    assert (await after.decode(sealed))[0].data == b'{"q": "secret"}'
    assert (await after.encode([Payload(data=b"x")]))[0].metadata["encryption-key-id"] == b"k2"
    # Payloads nobody encrypted pass through; unknown keys and tampered data fail loudly.
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b"1")
    assert (await after.decode([plain]))[0] == plain
    with pytest.raises(PayloadDecryptionError, match="not configured"):
        await EncryptionCodec(parse_keys([new])).decode(sealed)
    tampered = Payload()
    tampered.CopyFrom(sealed[0])
    tampered.data = tampered.data[:-1] + bytes([tampered.data[-1] ^ 1])
    with pytest.raises(PayloadDecryptionError, match="authentication"):
        await before.decode([tampered])


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["nokey"], "no id"),
        (["k:not base64!"], "not valid base64"),
        ([f"k:{base64.b64encode(b'short').decode()}"], "5 bytes"),
        ([new_key("k"), new_key("k")], "twice"),
    ],
)
def test_bad_keys_are_refused_naming_the_setting(entries: list[str], message: str) -> None:
    with pytest.raises(EncryptionKeyError, match=message) as err:
        parse_keys(entries)
    assert "GENAI_FLOW_ENCRYPTION_KEYS" in str(err.value)


def test_settings_refuse_a_bad_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_FLOW_ENCRYPTION_KEYS", "k:AAAA")
    with pytest.raises(SettingsError, match="GENAI_FLOW_ENCRYPTION_KEYS"):
        load_settings()


async def test_history_on_the_server_holds_no_plaintext_and_the_codec_endpoint_decodes_it(
    servers: dict[str, str],
    client: Client,
    unique: str,
    tmp_path: Path,
    gateway_factory: Callable[..., GatewayUnderTest],
) -> None:
    keys = [new_key("2026-11")]
    settings: Settings = private_settings(unique).model_copy(update={"encryption_keys": keys})
    collection = f"facts-{unique}"
    await index_facts(tmp_path, collection, settings)
    secret = f"Who commissioned the Zephyr reactor? marker-{uuid.uuid4().hex}"
    encrypted = await connect(settings)
    gw = gateway_factory(GENAI_FLOW_ENCRYPTION_KEYS=",".join(keys))
    async with running_workers(encrypted, settings) as flow:
        # Owned by the gateway's first key: /codec/decode decodes a job's payloads for its owner only.
        request = AnswerRequest(question=secret, collection=collection)
        started = await flow.start(Pipeline.ANSWER, request, owner=key_id(gw.keys[0]))
        info = await asyncio.wait_for(flow.wait(started.job_id), 90)
    assert info.status is JobStatus.COMPLETED, info.error
    assert "Amelia Hartwell" in info.result["answer"]  # type: ignore[index]
    assert any(step.name.startswith("retrieve") for step in info.steps)  # summaries decrypted for `status`

    # The server's copy, read without the codec: no question, no answer, no step summary in the clear.
    raw = await client.get_workflow_handle(started.job_id).fetch_history()
    blob = b"".join(event.SerializeToString() for event in raw.events)
    assert secret.encode() not in blob and b"Amelia Hartwell" not in blob and b"generate_answer:" not in blob
    started_event = raw.events[0].workflow_execution_started_event_attributes
    assert started_event.input.payloads[0].metadata["encoding"] == b"binary/encrypted"

    # The remote codec endpoint (what the Web UI calls) turns it back into the request.
    body = {"payloads": [MessageToDict(p) for p in started_event.input.payloads]}
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        decoded = await http.post("/codec/decode", json=body, headers=gw.auth())
        assert decoded.status_code == 200, decoded.text
        payload = decoded.json()["payloads"][0]
        assert secret in base64.b64decode(payload["data"]).decode()
        assert base64.b64decode(payload["metadata"]["encoding"]) == b"json/plain"
        # encode → decode round-trips through the endpoint; decoding needs a key like every other call.
        sealed = await http.post("/codec/encode", json={"payloads": [payload]}, headers=gw.auth())
        assert base64.b64decode(sealed.json()["payloads"][0]["metadata"]["encoding"]) == b"binary/encrypted"
        again = await http.post("/codec/decode", json=sealed.json(), headers=gw.auth())
        assert again.json()["payloads"][0] == payload
        assert (await http.post("/codec/decode", json=body)).status_code == 401
        junk = {"payloads": [{"metadata": {"encoding": "not base64!"}, "data": ""}]}
        assert (await http.post("/codec/decode", json=junk, headers=gw.auth())).status_code == 422
        preflight = await http.options(
            "/codec/decode",
            headers={
                "Origin": "http://localhost:8233",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
