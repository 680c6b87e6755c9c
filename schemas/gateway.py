"""Shapes of the HTTP gateway that are not job shapes: errors, health, cancel (CONTRACTS.md, "HTTP")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.fields import CollectionName
from schemas.request import RequestModel

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem document: every 4xx/5xx body of the gateway (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""


class CancelRequested(BaseModel):
    """`DELETE /v1/jobs/{id}` answer: cancellation was requested (the job closes as `failed`/`cancelled`)."""

    job_id: str
    status: str = "cancel_requested"


class Health(BaseModel):
    """`/healthz` (the process answers) and `/readyz` (its dependencies answer) bodies."""

    status: str = Field(description="`ok` or `unavailable`")
    checks: dict[str, str] = Field(default_factory=dict, description="dependency -> `ok` or why not")


_URI_PATTERN = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.*[^/]|file:///.+)$"  # an object: its key ends in no "/"


class IngestionBody(RequestModel):
    """`POST /v1/ingestions`: one object to index (`s3://bucket/key` or `file:///absolute/path`)."""

    # The pattern is documented for clients and fuzzers; the route checks it (gateway/uris.py) with a reason in words.
    uri: str = Field(min_length=6, max_length=4096, json_schema_extra={"pattern": _URI_PATTERN})
    collection: CollectionName | None = None
