"""The one classifier: model-call exceptions become ApplicationErrors of four types (CONTRACTS.md, "Failures").

`Throttled` (429, 503) carries the server's Retry-After as `next_retry_delay` and never counts toward the
dead-letter threshold; `Transient` (408, 409, other 5xx, timeouts, connection errors) and `InvalidOutput`
(schema-invalid structured output) count; `Permanent` (other 4xx, context length, content filter) is
non-retryable at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
import openai
import pydantic
from temporalio.exceptions import ApplicationError

from schemas.failures import FailureType

THROTTLED = FailureType.THROTTLED.value
TRANSIENT = FailureType.TRANSIENT.value
PERMANENT = FailureType.PERMANENT.value
INVALID_OUTPUT = FailureType.INVALID_OUTPUT.value

# A provider asking for a longer pause still gets re-asked after this long; another 429 costs nothing.
MAX_RETRY_AFTER = timedelta(seconds=60)

_THROTTLE_STATUSES = frozenset({429, 503})
_TRANSIENT_4XX = frozenset({408, 409})
_CONTEXT_LENGTH_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
# llama.cpp's llama-server: a prompt over the slot's context is a 400 of this type, and an embedding input over the
# batch is a 500 "input (N tokens) is too large to process" that no retry can fix (it echoes the status as `code`).
_CONTEXT_LENGTH_TYPES = frozenset({"exceed_context_size_error"})
_CONTEXT_LENGTH_PHRASES = ("context length", "context size", "is too large to process")
_CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})
# A 429 that no amount of waiting fixes: the account is out of credit (OpenAI sends it as a 429).
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})


class InvalidOutputError(Exception):
    """The model's reply did not parse or validate against the requested schema (the provider billed it anyway).

    `output` is the rejected reply: the next attempt sends it back with the error (activities/repair.py).
    """

    def __init__(self, message: str, billed_tokens: int = 0, output: str = "") -> None:
        super().__init__(message)
        self.billed_tokens = billed_tokens
        self.output = output


def schema_error(err: pydantic.ValidationError) -> str:
    """`schema error at path entities.0.type: Field required (and 1 more)`: the first error, located."""
    errors = err.errors(include_url=False)
    if not errors:
        return "schema error"
    first = errors[0]
    path = ".".join(str(part) for part in first["loc"]) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"schema error at path {path}: {first['msg']}{more}"


def invalid_output(
    what: str,
    err: pydantic.ValidationError,
    finish_reason: str | None,
    max_tokens: int | None,
    billed_tokens: int,
    output: str,
) -> InvalidOutputError:
    """The InvalidOutputError of a rejected reply, in words that name the real failure.

    A reply cut by the server (finish_reason "length") is "truncated at max_tokens=N": its JSON is incomplete
    whatever the schema says, and the bound is what to change. Otherwise the first schema error and its path.
    """
    if finish_reason == "length":
        reason = f"truncated at max_tokens={max_tokens} (the reply ended before its JSON did)"
    else:
        reason = schema_error(err)
    return InvalidOutputError(f"{what}: {reason}", billed_tokens, output)


# A truncated reply (finish_reason "length") is unparseable output too: a retry may well fit.
_INVALID_OUTPUT_EXCEPTIONS = (
    InvalidOutputError,
    pydantic.ValidationError,
    json.JSONDecodeError,
    openai.LengthFinishReasonError,
)


def retry_after(headers: httpx2.Headers | Mapping[str, str] | None, now: float | None = None) -> timedelta | None:
    """The pause a response asks for: `retry-after-ms`, else `retry-after` in seconds or as an HTTP-date; capped."""
    if not headers:
        return None
    lookup = headers if isinstance(headers, httpx2.Headers) else httpx2.Headers(dict(headers))
    seconds: float | None = None
    if (raw_ms := lookup.get("retry-after-ms")) is not None:
        seconds = _number(raw_ms, scale=0.001)
    if seconds is None and (raw := lookup.get("retry-after")) is not None:
        seconds = _number(raw) if _number(raw) is not None else _http_date(raw, now)
    if seconds is None or seconds <= 0:
        return None
    return min(timedelta(seconds=seconds), MAX_RETRY_AFTER)


def _number(text: str, scale: float = 1.0) -> float | None:
    try:
        value = float(text.strip()) * scale
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None  # reject NaN/inf


def _http_date(text: str, now: float | None) -> float | None:
    try:
        when = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as such
        return None
    return when.timestamp() - (time.time() if now is None else now)


def classify(exc: BaseException) -> ApplicationError:
    """Map an exception from a model call to an ApplicationError of type Throttled/Transient/Permanent/InvalidOutput."""
    if isinstance(exc, ApplicationError):
        return exc  # already classified (raised by our own code)
    if isinstance(exc, _INVALID_OUTPUT_EXCEPTIONS):
        return _error(INVALID_OUTPUT, f"invalid structured output: {_brief(exc)}", exc)
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return _error(PERMANENT, "content filter: the provider refused the output", exc, non_retryable=True)
    if isinstance(exc, openai.APIStatusError):
        return _from_status(exc)
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        return _error(TRANSIENT, f"timeout: {_brief(exc)}", exc)
    if isinstance(exc, openai.APIConnectionError | httpx2.TransportError | ConnectionError):
        return _error(TRANSIENT, f"connection error: {_brief(exc)}", exc)
    if isinstance(exc, openai.APIResponseValidationError):
        return _error(TRANSIENT, f"malformed response from the provider: {_brief(exc)}", exc)
    # Anything else is unexpected: retry it a bounded number of times rather than failing or looping forever.
    return _error(TRANSIENT, f"unexpected {type(exc).__name__}: {_brief(exc)}", exc)


def _from_status(exc: openai.APIStatusError) -> ApplicationError:
    status = exc.status_code
    code = str(exc.code or "").lower()
    if code.isdigit():  # llama-server repeats the HTTP status as the error code: no code in OpenAI's sense
        code = ""
    what = f"HTTP {status}{f' {code}' if code else ''}: {_brief(exc)}"
    if status in _THROTTLE_STATUSES and code not in _QUOTA_CODES:
        delay = retry_after(exc.response.headers)
        return _error(THROTTLED, what, exc, status=status, code=code, next_retry_delay=delay)
    if _context_length(exc, code):
        return _error(PERMANENT, f"context length exceeded: {what}", exc, non_retryable=True, status=status, code=code)
    if status in _TRANSIENT_4XX or status >= 500:
        return _error(TRANSIENT, what, exc, status=status, code=code)
    if code in _CONTENT_FILTER_CODES:
        return _error(PERMANENT, f"content filter: {what}", exc, non_retryable=True, status=status, code=code)
    return _error(PERMANENT, f"request refused: {what}", exc, non_retryable=True, status=status, code=code)


def _context_length(exc: openai.APIStatusError, code: str) -> bool:
    """The request is too long for the model: OpenAI's codes and wording, or llama-server's."""
    if code in _CONTEXT_LENGTH_CODES or str(exc.type or "").lower() in _CONTEXT_LENGTH_TYPES:
        return True
    message = exc.message.lower()
    return any(phrase in message for phrase in _CONTEXT_LENGTH_PHRASES)


def _error(
    kind: str,
    message: str,
    cause: BaseException,
    *,
    non_retryable: bool = False,
    status: int | None = None,
    code: str | None = None,
    next_retry_delay: timedelta | None = None,
) -> ApplicationError:
    details: dict[str, Any] = {"status": status, "code": code or None, "exception": type(cause).__name__}
    err = ApplicationError(message, details, type=kind, non_retryable=non_retryable, next_retry_delay=next_retry_delay)
    err.__cause__ = cause
    return err


def _brief(exc: BaseException, limit: int = 300) -> str:
    body = getattr(exc, "body", None)
    # The provider's own words ("Rate limit reached ...") rather than the SDK's "Error code: 429 - {...}" wrapper.
    text = body.get("message") if isinstance(body, dict) and isinstance(body.get("message"), str) else None
    text = text or getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
