"""The Temporal remote codec protocol's body: `{payloads: [{metadata: {k: base64}, data: base64}]}`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CodecPayload(BaseModel):
    """One payload in proto-JSON form: metadata values and data are base64 strings."""

    metadata: dict[str, str] = Field(default_factory=dict)
    data: str = ""


class CodecBody(BaseModel):
    """`POST /codec/encode` and `/codec/decode` request and response."""

    payloads: list[CodecPayload] = Field(max_length=10_000)
