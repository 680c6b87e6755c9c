"""`POST /v1/documents`: upload a document (multipart `file`, `collection?`) and start its ingestion.

The file is kept under the claims store (GENAI_FLOW_CLAIMS_URL or the home directory), where workers already read
ingestion's intermediate data, at `uploads/<sha256 prefix>/<name>`: the same bytes always land at the same URI, so a
repeated upload is the same document version (200 with the existing job). Uploads have their own size limit,
GENAI_FLOW_MAX_UPLOAD_BYTES (default 50 MiB), applied before the body is read.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import ValidationError

from gateway.auth import Caller
from gateway.problems import ProblemError
from gateway.routes_jobs import ERRORS, client_errors, started_body
from gateway.state import CallerDep, Gateway, GatewayDep
from runtime.objectstore import ObjectStore, ObjectStoreError
from schemas.gateway import IngestionBody
from schemas.ingest import IngestJob, supported
from schemas.s3events import IgnoredEvent

PATH = "/v1/documents"
router = APIRouter(prefix="/v1", tags=["ingestion"])
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def stored_name(filename: str | None) -> str:
    """A safe file name for an upload: its base name with anything but letters, digits, `._-` replaced."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", base).strip("._")[:120]
    if not name or not supported(name):
        raise ProblemError(422, f"unsupported file type: {filename!r} (txt, md, rst, html, pdf are ingested)")
    return name


async def upload_document(
    gw: Gateway, request: Request, caller: Caller, filename: str | None, data: bytes, collection: str | None
) -> IngestJob:
    """Store the bytes and start their ingestion for the caller (422 for an unsupported or empty file)."""
    name = stored_name(filename)
    if not data:
        raise ProblemError(422, "the uploaded file is empty")
    uri = f"{gw.settings.claims_base}/uploads/{hashlib.sha256(data).hexdigest()[:32]}/{name}"
    try:
        IngestionBody(uri=uri, collection=collection or None)  # the one rule for collection names
    except ValidationError as err:
        raise ProblemError(422, f"collection: {err.errors()[0]['msg']}") from None
    try:
        async with ObjectStore() as store:
            await store.put(uri, data)
    except ObjectStoreError as err:
        raise ProblemError(502, f"object store: {err}") from None
    flow = await gw.flow()
    async with client_errors():
        outcome = await flow.ingest_uri(uri, collection or None, owner=caller.key_id)
    if isinstance(outcome, IgnoredEvent):
        raise ProblemError(409, outcome.reason)
    body = started_body(gw, request, caller, outcome.job_id, outcome.duplicate)  # events URL signed for the caller
    return outcome.model_copy(update={"status_url": body.status_url, "events_url": body.events_url})


@router.post(
    "/documents",
    status_code=202,
    response_model=IngestJob,
    responses={**ERRORS, 413: {"description": "larger than GENAI_FLOW_MAX_UPLOAD_BYTES"}},
)
async def post_document(
    file: Annotated[UploadFile, File(description="The document (txt, md, rst, html, pdf)")],
    request: Request,
    response: Response,
    gw: GatewayDep,
    caller: CallerDep,
    collection: Annotated[str | None, Form(description="Target collection (default: the ingestion default)")] = None,
) -> IngestJob:
    """Upload a document and index it: 202 with the ingestion job (200 when this exact file is already indexed)."""
    job = await upload_document(gw, request, caller, file.filename, await file.read(), collection)
    response.status_code = 200 if job.duplicate or job.unchanged else 202
    response.headers["Location"] = job.status_url
    return job
