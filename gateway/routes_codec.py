"""`POST /codec/encode|decode`: the Temporal remote codec protocol, for the Web UI and `temporal --codec-endpoint`.

Decoding needs an API key like any other call (`temporal --codec-auth "Bearer <key>"`): it turns ciphertext into
prompts and answers. Without GENAI_FLOW_ENCRYPTION_KEYS both endpoints return the payloads unchanged.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from fastapi import APIRouter
from temporalio.api.common.v1 import Payload

from gateway.problems import ProblemError
from gateway.routes_jobs import ERRORS
from gateway.state import CallerDep, GatewayDep
from runtime.codec import EncryptionCodec, PayloadDecryptionError, codec_for
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


@router.post("/encode", response_model=CodecBody, responses=ERRORS)
async def encode(body: CodecBody, gw: GatewayDep, _caller: CallerDep) -> CodecBody:
    """Encrypt payloads with the current key."""
    codec = _codec(tuple(gw.settings.encryption_keys))
    payloads = _to_payloads(body)
    return _to_body(await codec.encode(payloads) if codec else payloads)


@router.post("/decode", response_model=CodecBody, responses=ERRORS)
async def decode(body: CodecBody, gw: GatewayDep, _caller: CallerDep) -> CodecBody:
    """Decrypt payloads (others pass through unchanged)."""
    codec = _codec(tuple(gw.settings.encryption_keys))
    payloads = _to_payloads(body)
    try:
        return _to_body(await codec.decode(payloads) if codec else payloads)
    except PayloadDecryptionError as err:
        raise ProblemError(422, str(err)) from None
