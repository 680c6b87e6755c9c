"""The Temporal remote codec protocol's body: `{payloads: [{metadata: {k: base64}, data: base64}]}`."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

# Standard base64 with its padding (what protobuf's JSON form writes): anything else is refused with 422.
Base64 = Annotated[str, Field(pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")]


class CodecPayload(BaseModel):
    """One payload in proto-JSON form: metadata values and data are base64 strings."""

    metadata: dict[str, Base64] = Field(default_factory=dict)
    data: Base64 = ""


class CodecBody(BaseModel):
    """`POST /codec/encode` and `/codec/decode` request and response."""

    payloads: list[CodecPayload] = Field(max_length=10_000)
