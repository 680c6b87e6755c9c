"""`POST /codec/encode|decode`: the Temporal remote codec protocol, for the Web UI and `temporal --codec-endpoint`.

Decoding turns ciphertext into prompts and answers, so it needs a caller: an API key (`temporal --codec-auth
"Bearer <key>"`) or the console's session cookie (the Web UI's codec calls carry no bearer key). A caller decodes
only payloads of its own jobs: each sealed payload names its job (or, from `/codec/encode`, its owner) and that
name is authenticated by the encryption; admin keys (GENAI_FLOW_ADMIN_KEYS) decode every payload. Without
GENAI_FLOW_ENCRYPTION_KEYS both endpoints return the payloads unchanged.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from fastapi import APIRouter, Request
from temporalio.api.common.v1 import Payload

from gateway.auth import Caller, bearer_or_basic
from gateway.codec_owners import JobOwners
from gateway.problems import ProblemError
from gateway.routes_jobs import ERRORS, client_errors
from gateway.session import COOKIE, session_caller
from gateway.state import Gateway, GatewayDep, authenticated, rate_limited
from runtime.codec import EncryptionCodec, PayloadDecryptionError, binding, codec_for, is_encrypted
from schemas.codec import CodecBody, CodecPayload

router = APIRouter(prefix="/codec", tags=["codec"])


@lru_cache(maxsize=4)
def _codec(entries: tuple[str, ...]) -> EncryptionCodec | None:
    return codec_for(entries)


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _to_payloads(body: CodecBody) -> list[Payload]:
    try:
        return [Payload(metadata={k: _b64(v) for k, v in p.metadata.items()}, data=_b64(p.data)) for p in body.payloads]
    except (binascii.Error, ValueError):
        raise ProblemError(422, "payload metadata values and data must be base64") from None


def _to_body(payloads: list[Payload]) -> CodecBody:
    def enc(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return CodecBody(
        payloads=[CodecPayload(metadata={k: enc(v) for k, v in p.metadata.items()}, data=enc(p.data)) for p in payloads]
    )


async def codec_caller(request: Request, gw: GatewayDep) -> Caller:
    """The caller by bearer key, else by the console's session cookie; 401 with neither."""
    if bearer_or_basic(request.headers.get("authorization")) is None:
        caller = session_caller(gw.session_signer, gw.keys, request.cookies.get(COOKIE))
        if caller is not None:
            await rate_limited(gw, caller)
            return caller
    return await authenticated(request, gw)


async def _check_owned(gw: Gateway, caller: Caller, payloads: list[Payload]) -> None:
    """403 unless every sealed payload belongs to one of the caller's jobs (or the caller sees every owner)."""
    if caller.sees_all:
        return
    owners: JobOwners = gw.job_owners
    for payload in payloads:
        if not is_encrypted(payload):
            continue  # nothing to reveal
        job_id, owner = binding(payload)
        if owner is not None:
            allowed = owner == caller.key_id
        elif job_id is not None:
            flow = await gw.flow()
            async with client_errors():
                allowed = await owners.owner(flow, job_id) == caller.key_id
        else:
            raise ProblemError(403, "this payload names no job: only an admin key (GENAI_FLOW_ADMIN_KEYS) decodes it")
        if not allowed:
            raise ProblemError(403, "a payload belongs to a job of another API key")


@router.post("/encode", response_model=CodecBody, responses=ERRORS)
async def encode(body: CodecBody, request: Request, gw: GatewayDep) -> CodecBody:
    """Encrypt payloads with the current key, bound to the caller (so only it, or an admin, decodes them)."""
    caller = await codec_caller(request, gw)
    codec = _codec(tuple(gw.settings.encryption_entries))
    payloads = _to_payloads(body)
    return _to_body(await codec.bound(owner=caller.key_id).encode(payloads) if codec else payloads)


@router.post("/decode", response_model=CodecBody, responses=ERRORS)
async def decode(body: CodecBody, request: Request, gw: GatewayDep) -> CodecBody:
    """Decrypt payloads of the caller's own jobs (others' payloads: 403; unencrypted ones pass unchanged)."""
    caller = await codec_caller(request, gw)
    codec = _codec(tuple(gw.settings.encryption_entries))
    payloads = _to_payloads(body)
    await _check_owned(gw, caller, payloads)
    try:
        return _to_body(await codec.decode(payloads) if codec else payloads)
    except PayloadDecryptionError as err:
        raise ProblemError(422, str(err)) from None
