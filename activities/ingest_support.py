"""What the ingestion activities share: failure classes for I/O steps, background heartbeats, chunk ids.

I/O steps (read, parse, index) fail in three ways: `Permanent` (the document itself is the problem: unsupported,
encrypted, corrupt; dead-lettered at once), `Superseded` (the object changed or vanished since the event: the run
ends without indexing, nothing is wrong), and `Transient` (the store or the index did not answer: retried with
backoff, dead-lettered on the MAX_ATTEMPTS-th failure with `StepFailure` details, as model calls are).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.background import repeating
from activities.retry import MAX_ATTEMPTS, backoff_delay
from schemas.failures import FailureType, StepFailure

SUPERSEDED = "Superseded"
BEAT_EVERY_S = 5.0
_UNSAFE_IN_ID = re.compile(r"[\s\[\]]+")  # citations are `[chunk id]`: no spaces or brackets inside


def permanent(step: str, reason: str) -> ApplicationError:
    """A failure retrying cannot fix; the workflow dead-letters the job with this reason."""
    details = StepFailure(step=step, type=FailureType.PERMANENT, attempts=activity.info().attempt, last_error=reason)
    return ApplicationError(
        reason, details.model_dump(mode="json"), type=FailureType.PERMANENT.value, non_retryable=True
    )


def superseded(reason: str) -> ApplicationError:
    """The object is no longer the version this run was started for: the run ends, nothing is indexed."""
    return ApplicationError(reason, type=SUPERSEDED, non_retryable=True)


def transient(step: str, err: BaseException) -> ApplicationError:
    """A failure worth retrying; final (non-retryable, StepFailure details) on the MAX_ATTEMPTS-th attempt."""
    attempt = activity.info().attempt
    message = f"{type(err).__name__}: {err}"
    details = StepFailure(step=step, type=FailureType.TRANSIENT, attempts=attempt, last_error=message)
    if attempt >= MAX_ATTEMPTS:
        return ApplicationError(
            f"{step} gave up after {attempt} attempt(s): {message}",
            details.model_dump(mode="json"),
            type=FailureType.TRANSIENT.value,
            non_retryable=True,
        )
    return ApplicationError(
        message,
        details.model_dump(mode="json"),
        type=FailureType.TRANSIENT.value,
        next_retry_delay=backoff_delay(attempt),
    )


@contextlib.asynccontextmanager
async def heartbeating(every_s: float = BEAT_EVERY_S, details: Any = None) -> AsyncIterator[None]:
    """Heartbeat in the background while a long step works (its CPU work runs in threads, so the loop stays free)."""

    async def beat() -> None:
        activity.heartbeat(details) if details is not None else activity.heartbeat()

    async with repeating(every_s, beat):
        yield


def chunk_id(source: str, uri: str, ordinal: int) -> str:
    """`<source>@<6 hex of the uri>#<n>`: readable in citations, distinct across uris with the same name.

    The version is not part of it: a new version's upsert replaces the old one's chunks in place (under the
    document's lock), and citations of an unchanged opening paragraph keep their id across edits.
    """
    label = _UNSAFE_IN_ID.sub("_", source).strip("_") or "document"
    tag = hashlib.sha256(uri.encode()).hexdigest()[:6]
    return f"{label}@{tag}#{ordinal}"
