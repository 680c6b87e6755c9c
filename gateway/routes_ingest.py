"""Ingestion over HTTP: one object by URI (allow-listed), and the S3 event webhook (AWS, MinIO, SNS envelope)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.auth import Caller
from gateway.problems import ProblemError
from gateway.routes_jobs import ERRORS, client_errors, started_body
from gateway.sns import handle_subscription
from gateway.state import CallerDep, Gateway, GatewayDep
from gateway.uris import checked_uri
from runtime.objectstore import ObjectNotFoundError, ObjectStoreError
from runtime.s3events import MAX_RECORDS, EventParseError, TooManyRecordsError, parse_event_body
from schemas.gateway import IngestionBody, Problem
from schemas.ingest import IngestAccepted, IngestJob
from schemas.s3events import IgnoredEvent

router = APIRouter(prefix="/v1", tags=["ingestion"])

WEBHOOK_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    400: {"model": Problem, "description": "not an S3 event notification (nor one in an SNS envelope)"},
    413: {"model": Problem, "description": f"body too large, or more than {MAX_RECORDS} records in one notification"},
}


def _signed(gw: Gateway, request: Request, caller: Caller, job: IngestJob) -> IngestJob:
    """The job with its events URL signed for the caller (like every 202 of the gateway)."""
    body = started_body(gw, request, caller, job.job_id, job.duplicate)
    return job.model_copy(update={"status_url": body.status_url, "events_url": body.events_url})


@router.post("/ingestions", status_code=202, response_model=IngestJob, responses=ERRORS)
async def post_ingestion(
    body: IngestionBody, request: Request, response: Response, gw: GatewayDep, caller: CallerDep
) -> IngestJob:
    """Index one document (`s3://` in the allowed buckets, `file://` under the allowed roots) at its current version.

    200 with the existing job when this version is already indexed (`unchanged`) or being indexed (`duplicate`).
    """
    uri = checked_uri(gw.settings, body.uri)
    flow = await gw.flow()
    async with client_errors():
        try:
            outcome = await flow.ingest_uri(uri, body.collection, owner=caller.key_id)
        except ObjectNotFoundError:
            raise ProblemError(422, f"no such object: {uri}") from None
        except ObjectStoreError as err:
            raise ProblemError(502, f"object store: {err}") from None
    if isinstance(outcome, IgnoredEvent):
        status = 422 if "unsupported" in outcome.reason else 409
        raise ProblemError(status, outcome.reason)
    job = _signed(gw, request, caller, outcome)
    response.status_code = 200 if job.duplicate else 202
    response.headers["Location"] = job.status_url
    return job


@router.post("/events/s3", status_code=202, response_model=IngestAccepted, responses=WEBHOOK_ERRORS)
async def post_s3_event(request: Request, gw: GatewayDep, caller: CallerDep) -> IngestAccepted:
    """S3 event notification (AWS, MinIO, or inside an SNS envelope; SNS may authenticate with Basic auth, the key as
    password): one job per created object, a removal per deleted one; others listed under `ignored` with a reason."""
    try:
        parsed = parse_event_body(await request.body())
    except TooManyRecordsError as err:
        raise ProblemError(413, str(err)) from None
    except EventParseError as err:
        raise ProblemError(400, str(err)) from None
    except RecursionError:
        # json.loads and pydantic recurse per nesting level: a hostile body of deep brackets ends here, not in a 500.
        raise ProblemError(400, "body nests too deeply to be an S3 event notification") from None
    if parsed.subscription is not None:
        reason = await handle_subscription(gw.settings, parsed.subscription)
        parsed.ignored = [i.model_copy(update={"reason": reason}) for i in parsed.ignored]
    if gw.limiter is not None and len(parsed.objects) > 1:
        # Each object starts a job: the records beyond the request's own count against the key's rate limit too.
        await gw.limiter.check(caller.key_id, cost=len(parsed.objects) - 1)
    flow = await gw.flow()
    async with client_errors():
        accepted = await flow.ingest_events(parsed, allowed_buckets=gw.settings.allowed_buckets, owner=caller.key_id)
    accepted.jobs = [_signed(gw, request, caller, job) for job in accepted.jobs]
    return accepted
