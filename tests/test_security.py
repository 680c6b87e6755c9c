"""Owners' data stays theirs: /codec decodes a job's payloads only for its owner (bearer key or console session)
or an admin key; events tokens and sessions are signed with the server secret; ops endpoints can be put behind a key;
short keys are refused off loopback."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.client import Client

from gateway.auth import Caller, KeyRing, check_events_token, events_token, key_id
from gateway.session import COOKIE, csrf_ok, csrf_token, session_caller, session_value
from runtime.server_secret import Signer, stored_secret
from runtime.temporal import connect
from schemas.answer import AnswerRequest
from schemas.jobs import Pipeline
from starter.client import GenAIFlowClient
from tests.conftest import GatewayUnderTest


def new_key(key_id_: str) -> str:
    return f"{key_id_}:{base64.b64encode(os.urandom(32)).decode()}"


async def test_codec_decodes_only_the_owners_payloads(
    gateway_factory: Callable[..., GatewayUnderTest], client: Client
) -> None:
    unique = uuid.uuid4().hex[:8]
    key_a, key_b, admin = (f"{name}-{unique}-{'x' * 24}" for name in ("alice", "bob", "ops"))
    enc = new_key("k1")
    gw = gateway_factory(
        GENAI_FLOW_API_KEYS=f"{key_a},{key_b},{admin}", GENAI_FLOW_ADMIN_KEYS=admin, GENAI_FLOW_ENCRYPTION_KEYS=enc
    )
    settings = gw.settings.model_copy(update={"encryption_keys": [enc]})
    flow = GenAIFlowClient(await connect(settings), settings)
    secret = f"Who commissioned the Zephyr reactor? marker-{unique}"
    # No worker serves these queues: the job only has to exist, with A as its owner and an encrypted input.
    started = await flow.start(Pipeline.ANSWER, AnswerRequest(question=secret), owner=key_id(key_a))
    try:
        history = await client.get_workflow_handle(started.job_id).fetch_history()
        payload = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
        assert payload.metadata["genai-flow-job"] == started.job_id.encode()
        body = {"payloads": [MessageToDict(payload)]}
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:

            async def decode(**kwargs: object) -> httpx.Response:
                return await http.post("/codec/decode", json=body, **kwargs)  # type: ignore[arg-type]

            def bearer(key: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {key}"}

            owner = await decode(headers=bearer(key_a))
            assert owner.status_code == 200, owner.text
            assert secret in base64.b64decode(owner.json()["payloads"][0]["data"]).decode()
            other = await decode(headers=bearer(key_b))
            assert other.status_code == 403 and "another API key" in other.json()["detail"]
            assert (await decode(headers=bearer(admin))).status_code == 200
            assert (await decode()).status_code == 401

            # The console's session cookie (what the Web UI's codec calls carry) decodes the owner's payloads only.
            async def session_of(key: str) -> str:
                login = await http.post("/ui/login", data={"api_key": key, "next": "https://evil.example/"})
                assert login.status_code == 303 and login.headers["location"] == "/ui/jobs"  # never off-site
                cookie = login.headers["set-cookie"].lower()
                assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
                assert key.lower() not in cookie
                http.cookies.clear()
                return login.cookies[COOKIE]

            async def decode_with(session: str) -> httpx.Response:
                async with httpx.AsyncClient(base_url=gw.url, timeout=30, cookies={COOKIE: session}) as browser:
                    return await browser.post("/codec/decode", json=body)

            by_cookie = await decode_with(await session_of(key_a))
            assert by_cookie.status_code == 200
            assert secret in base64.b64decode(by_cookie.json()["payloads"][0]["data"]).decode()
            assert (await decode_with(await session_of(key_b))).status_code == 403
            assert (await decode_with("0123456789ab.9999999999." + "A" * 43)).status_code == 401
            assert (await http.post("/ui/login", data={"api_key": "wrong"})).status_code == 401
            assert 'name="api_key"' in (await http.get("/ui/login")).text

            # A payload sealed at /codec/encode is bound to its caller: B cannot decode what A sealed.
            plain = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": "MQ=="}]}
            sealed = (await http.post("/codec/encode", json=plain, headers=bearer(key_a))).json()
            assert (await http.post("/codec/decode", json=sealed, headers=bearer(key_a))).json() == plain
            assert (await http.post("/codec/decode", json=sealed, headers=bearer(key_b))).status_code == 403
            # Rewriting the owner in the metadata breaks the seal (the owner is authenticated with the data).
            forged = sealed["payloads"][0]["metadata"] | {
                "genai-flow-owner": base64.b64encode(key_id(key_b).encode()).decode()
            }
            tampered = {"payloads": [{**sealed["payloads"][0], "metadata": forged}]}
            assert (await http.post("/codec/decode", json=tampered, headers=bearer(key_b))).status_code == 422
    finally:
        await client.get_workflow_handle(started.job_id).terminate("test done")


def test_events_tokens_are_signed_with_the_server_secret_and_reusable_until_they_expire() -> None:
    ring = KeyRing(["a" * 30, "b" * 30])
    alice = ring.match("a" * 30)
    assert alice is not None
    old, new = b"old-secret", b"new-secret"
    signer = Signer([old], "events")
    token = events_token(signer, alice, "answer-1", ttl_s=600, now=1000)
    for _ in range(2):  # reusable: EventSource reconnects with the same URL
        assert check_events_token(signer, ring, token, "answer-1", now=1500) == alice
    assert check_events_token(signer, ring, token, "answer-1", now=1601) is None  # expired
    assert check_events_token(signer, ring, token, "answer-2", now=1500) is None  # another job
    assert check_events_token(Signer([b"other"], "events"), ring, token, "answer-1", now=1500) is None
    assert check_events_token(Signer([new, old], "events"), ring, token, "answer-1", now=1500) == alice  # rotation
    assert check_events_token(Signer([old], "session"), ring, token, "answer-1", now=1500) is None  # one purpose each
    # The API key signs nothing: a token made with the key as secret is worthless.
    forged = events_token(Signer([("a" * 30).encode()], "events"), alice, "answer-1", 600, now=1000)
    assert check_events_token(signer, ring, forged, "answer-1", now=1500) is None
    # A key removed from the ring ends its tokens.
    assert check_events_token(signer, KeyRing(["b" * 30]), token, "answer-1", now=1500) is None
    for hostile in ("", "x", f"{alice.key_id}.²³.{'A' * 43}", f"{alice.key_id}.1e9.{'A' * 43}", "a.b.c.d"):
        assert check_events_token(signer, ring, hostile, "answer-1", now=1500) is None


def test_sessions_and_csrf_tokens() -> None:
    ring = KeyRing(["a" * 30], admin_keys=["a" * 30])
    caller = ring.match("a" * 30)
    assert caller == Caller(key_id("a" * 30), admin=True)
    signer, csrf = Signer([b"s"], "session"), Signer([b"s"], "csrf")
    value = session_value(signer, caller, now=0)
    assert session_caller(signer, ring, value, now=3600) == caller
    assert session_caller(signer, ring, value, now=9 * 3600) is None  # expired
    assert session_caller(Signer([b"s"], "events"), ring, value, now=1) is None
    assert session_caller(signer, ring, value.replace(".", "x", 1), now=1) is None
    token = csrf_token(csrf, value)
    assert csrf_ok(csrf, value, token)
    assert (
        not csrf_ok(csrf, value, token[:-1] + "A") and not csrf_ok(csrf, None, token) and not csrf_ok(csrf, value, "")
    )
    assert not csrf_ok(csrf, session_value(signer, caller, now=5), token)


def test_the_stored_server_secret_is_made_once_and_private(tmp_path: Path) -> None:
    first = stored_secret(tmp_path)
    assert stored_secret(tmp_path) == first and len(first) >= 43
    assert (tmp_path / "server-secret").stat().st_mode & 0o077 == 0


async def test_ops_endpoints_can_be_put_behind_a_key(gateway_factory: Callable[..., GatewayUnderTest]) -> None:
    gw = gateway_factory(GENAI_FLOW_PROTECT_OPS="true")
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        for path in ("/metrics", "/openapi.json", "/docs"):
            refused = await http.get(path)
            assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json", path
            assert (await http.get(path, headers=gw.auth())).status_code == 200, path
        assert (await http.get("/healthz")).status_code == 200  # liveness stays open for orchestrators
        # The Web UI sends the console's session cookie with its codec calls: credentials allowed for its origin.
        preflight = await http.options(
            "/codec/decode",
            headers={"Origin": "http://127.0.0.1:8233", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
        assert preflight.headers["access-control-allow-credentials"] == "true"


def test_short_keys_are_refused_off_loopback(servers: dict[str, str]) -> None:
    env = {**os.environ, "GENAI_FLOW_API_KEYS": "short-key"}
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "gateway", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "shorter than 24 characters" in done.stderr, done.stderr
    assert "short-key" not in done.stderr + done.stdout


def test_settings_hold_keys_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.settings import SettingsError, load_settings

    monkeypatch.setenv("GENAI_FLOW_API_KEYS", "k" * 30)
    monkeypatch.setenv("GENAI_FLOW_ENCRYPTION_KEYS", new_key("k1"))
    settings = load_settings()
    assert "k" * 30 not in repr(settings) and settings.api_key_values == ["k" * 30]
    assert settings.encryption_entries[0].startswith("k1:")
    monkeypatch.setenv("GENAI_FLOW_ADMIN_KEYS", "not-a-key")
    with pytest.raises(SettingsError, match="GENAI_FLOW_ADMIN_KEYS"):
        load_settings()


def test_children_get_only_the_secrets_they_need(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from launcher.plan import plan
    from runtime.child_secrets import inherited
    from runtime.settings import load_settings

    monkeypatch.setenv("GENAI_FLOW_API_KEYS", "k" * 30)
    monkeypatch.setenv("GENAI_FLOW_ENCRYPTION_KEYS", new_key("k1"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("GENAI_FLOW_HOME", str(tmp_path))
    components = {c.name: c.process for c in plan(load_settings()) if c.process is not None}

    def env_of(name: str) -> dict[str, str]:
        proc = components[name]
        assert proc is not None
        return {**inherited(proc.secrets), **(proc.env or {})}

    for name in ("temporal", "redis", "chroma", "simulator"):
        if name in components:
            assert not {"GENAI_FLOW_API_KEYS", "GENAI_FLOW_ENCRYPTION_KEYS", "OPENAI_API_KEY"} & set(env_of(name)), name
    assert {"GENAI_FLOW_API_KEYS", "GENAI_FLOW_ENCRYPTION_KEYS"} <= set(env_of("gateway"))
    worker = env_of("worker")
    assert "GENAI_FLOW_API_KEYS" not in worker and {"GENAI_FLOW_ENCRYPTION_KEYS", "OPENAI_API_KEY"} <= set(worker)
    assert "GENAI_FLOW_HOME" in env_of("temporal")  # settings that are not secrets pass as before
    # With encryption on, the Web UI decodes through the gateway's /codec.
    argv = list(components["temporal"].argv)  # type: ignore[union-attr]
    assert argv[argv.index("--ui-codec-endpoint") + 1] == "http://127.0.0.1:8000/codec"


async def test_a_job_encrypted_under_another_key_is_listed_not_a_server_error(
    gateway_factory: Callable[..., GatewayUnderTest], client: Client
) -> None:
    unique = uuid.uuid4().hex[:8]
    enc = new_key("k1")
    writer = gateway_factory(GENAI_FLOW_ENCRYPTION_KEYS=enc).settings.model_copy(update={"encryption_keys": [enc]})
    started = await GenAIFlowClient(await connect(writer), writer).start(
        Pipeline.ANSWER, AnswerRequest(question=f"Sealed {unique}"), owner="cli:tester"
    )  # no worker: the job only has to exist, its memo encrypted
    try:
        reader = gateway_factory(GENAI_FLOW_API_KEYS="")  # no encryption key: the trusted local user lists every job
        async with httpx.AsyncClient(base_url=reader.url, timeout=30) as http:
            for _ in range(100):  # visibility is eventually consistent
                response = await http.get("/v1/jobs", params={"page_size": 1000})
                assert response.status_code == 200, response.text
                if started.job_id in [job["job_id"] for job in response.json()]:
                    break
            else:
                raise AssertionError(f"{started.job_id} never listed")
    finally:
        await client.get_workflow_handle(started.job_id).terminate("test over")
