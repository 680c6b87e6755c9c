"""The one error classifier: statuses, Retry-After forms and non-HTTP failures map to the four failure types."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from email.utils import formatdate
from typing import Any

import httpx2
import openai
import pydantic
import pytest
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from activities.errors import MAX_RETRY_AFTER, InvalidOutputError, classify, retry_after
from activities.retry import (
    MAX_ATTEMPTS,
    backoff_delay,
    inference_activity_options,
    inference_retry_policy,
    step_failure,
)
from schemas.failures import FailureType, StepFailure

URL = "http://127.0.0.1:9/v1/chat/completions"


def status_error(status: int, headers: dict[str, str] | None = None, code: str | None = None, message: str = "x"):
    """An APIStatusError around a real httpx2 response, as the SDK raises it."""
    body: dict[str, Any] = {"error": {"message": message, "type": "t", "param": None, "code": code}}
    request = httpx2.Request("POST", URL)
    response = httpx2.Response(status, headers=headers or {}, content=json.dumps(body).encode(), request=request)
    return openai.APIStatusError(message, response=response, body=body["error"])


@pytest.mark.parametrize(
    ("status", "kind", "non_retryable"),
    [
        (429, "Throttled", False),
        (503, "Throttled", False),
        (408, "Transient", False),
        (409, "Transient", False),
        (500, "Transient", False),
        (502, "Transient", False),
        (504, "Transient", False),
        (599, "Transient", False),
        (400, "Permanent", True),
        (401, "Permanent", True),
        (403, "Permanent", True),
        (404, "Permanent", True),
        (422, "Permanent", True),
    ],
)
def test_status_codes_map_to_failure_types(status: int, kind: str, non_retryable: bool) -> None:
    err = classify(status_error(status))
    assert isinstance(err, ApplicationError)
    assert err.type == kind
    assert err.non_retryable is non_retryable
    assert err.details[0]["status"] == status
    assert str(status) in err.message


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, timedelta(milliseconds=1500)),
        ({"retry-after-ms": "250", "retry-after": "30"}, timedelta(milliseconds=250)),  # ms wins
        ({"retry-after-ms": "bogus", "retry-after": "7"}, timedelta(seconds=7)),  # bad ms falls back
        ({"retry-after": "3"}, timedelta(seconds=3)),
        ({"Retry-After": "2.5"}, timedelta(seconds=2.5)),  # header names are case-insensitive
        ({"retry-after": "3600"}, MAX_RETRY_AFTER),  # capped
        ({"retry-after": "0"}, None),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({}, None),
    ],
)
@pytest.mark.parametrize("status", [429, 503])
def test_throttled_next_retry_delay_from_headers(
    status: int, headers: dict[str, str], expected: timedelta | None
) -> None:
    err = classify(status_error(status, headers))
    assert err.type == "Throttled"
    assert err.non_retryable is False
    assert err.next_retry_delay == expected


def test_retry_after_http_date_forms() -> None:
    now = 1_700_000_000.0
    assert retry_after({"retry-after": formatdate(now + 20, usegmt=True)}, now=now) == timedelta(seconds=20)
    assert retry_after({"retry-after": formatdate(now + 600, usegmt=True)}, now=now) == MAX_RETRY_AFTER
    assert retry_after({"retry-after": formatdate(now - 5, usegmt=True)}, now=now) is None  # in the past
    assert retry_after({"retry-after": "Zun, 99 Foo 2023 16:26:27 GMT"}, now=now) is None
    # Through the classifier, against the real clock.
    err = classify(status_error(429, {"retry-after": formatdate(time.time() + 30, usegmt=True)}))
    assert err.next_retry_delay is not None
    assert timedelta(seconds=27) <= err.next_retry_delay <= timedelta(seconds=30)


def test_non_throttled_statuses_ignore_retry_after() -> None:
    assert classify(status_error(500, {"retry-after": "5"})).next_retry_delay is None
    assert classify(status_error(400, {"retry-after": "5"})).next_retry_delay is None


@pytest.mark.parametrize(
    ("status", "code", "message", "phrase"),
    [
        (400, "context_length_exceeded", "This model's maximum context length is 8192 tokens", "context length"),
        (400, None, "This model's maximum context length is 8192 tokens", "context length"),
        (400, "content_filter", "The response was filtered", "content filter"),
        (400, "content_policy_violation", "Your request was rejected", "content filter"),
        (429, "insufficient_quota", "You exceeded your current quota", "request refused"),
    ],
)
def test_permanent_special_cases(status: int, code: str | None, message: str, phrase: str) -> None:
    err = classify(status_error(status, {"retry-after": "1"}, code=code, message=message))
    assert err.type == "Permanent"
    assert err.non_retryable is True
    assert phrase in err.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        # Bodies exactly as llama.cpp's llama-server sends them (seen in `make test-real`'s comparison).
        (
            400,
            {
                "code": 400,
                "message": "request (6031 tokens) exceeds the available context size (4096 tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 6031,
                "n_ctx": 4096,
            },
        ),
        (
            500,
            {
                "code": 500,
                "message": "input (702 tokens) is too large to process. increase the physical batch size "
                "(current batch size: 512)",
                "type": "server_error",
            },
        ),
    ],
)
def test_llama_server_context_errors_are_permanent_context_length(status: int, body: dict[str, Any]) -> None:
    request = httpx2.Request("POST", URL)
    response = httpx2.Response(status, content=json.dumps({"error": body}).encode(), request=request)
    err = classify(openai.APIStatusError(body["message"], response=response, body=body))
    assert (err.type, err.non_retryable) == ("Permanent", True)
    assert "context length exceeded" in err.message
    assert f"HTTP {status}:" in err.message  # the echoed status is no error code


def test_timeouts_and_connection_errors_are_transient() -> None:
    request = httpx2.Request("POST", URL)
    for exc in (
        openai.APITimeoutError(request=request),
        openai.APIConnectionError(request=request),
        httpx2.ReadTimeout("read timed out", request=request),
        httpx2.RemoteProtocolError("peer closed connection", request=request),
        TimeoutError(),
        ConnectionResetError("reset"),
    ):
        err = classify(exc)
        assert err.type == "Transient", exc
        assert err.non_retryable is False
        assert err.__cause__ is exc


def test_invalid_output() -> None:
    class Model(pydantic.BaseModel):
        summary: str

    with pytest.raises(pydantic.ValidationError) as validation:
        Model.model_validate({"nope": 1})
    with pytest.raises(json.JSONDecodeError) as decoding:
        json.loads("{not json")
    for exc in (validation.value, decoding.value, InvalidOutputError("missing field")):
        err = classify(exc)
        assert err.type == "InvalidOutput"
        assert err.non_retryable is False


def test_content_filter_finish_reason_is_permanent() -> None:
    err = classify(openai.ContentFilterFinishReasonError())
    assert (err.type, err.non_retryable) == ("Permanent", True)


def test_unknown_errors_are_transient_and_classified_errors_pass_through() -> None:
    assert classify(KeyError("k")).type == "Transient"
    mine = ApplicationError("already", type="Permanent", non_retryable=True)
    assert classify(mine) is mine


def test_failure_type_counting() -> None:
    assert [t.value for t in FailureType if t.counts] == ["Transient", "InvalidOutput"]


def test_retry_policy_and_options() -> None:
    policy = inference_retry_policy()
    assert policy.maximum_attempts == 0  # unlimited: the activity counts its own failures
    assert policy.non_retryable_error_types == ["Permanent"]
    assert (policy.initial_interval, policy.backoff_coefficient, policy.maximum_interval) == (
        timedelta(seconds=1),
        2.0,
        timedelta(seconds=60),
    )

    class Knobs:
        step_deadline_s = 600.0
        inference_timeout_s = 120.0

    options = inference_activity_options(Knobs())
    assert options["schedule_to_close_timeout"] == timedelta(minutes=10)
    assert options["start_to_close_timeout"] > timedelta(seconds=120)  # the client gives up first
    assert options["heartbeat_timeout"] < options["start_to_close_timeout"]
    short = inference_activity_options(
        Knobs(), step_deadline=timedelta(seconds=20), inference_timeout=timedelta(seconds=2)
    )
    assert short["schedule_to_close_timeout"] == timedelta(seconds=20)
    assert short["start_to_close_timeout"] > timedelta(seconds=2)
    assert inference_activity_options(timedelta(seconds=90))["schedule_to_close_timeout"] == timedelta(seconds=90)
    assert inference_activity_options(45.0)["schedule_to_close_timeout"] == timedelta(seconds=45)
    assert inference_activity_options()["schedule_to_close_timeout"] == timedelta(minutes=10)
    assert [backoff_delay(n).total_seconds() for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert MAX_ATTEMPTS == 5


def test_step_failure_reads_details_through_activity_error() -> None:
    final = ApplicationError(
        "gave up",
        {"step": "summarize", "type": "Transient", "attempts": 5, "last_error": "HTTP 500", "status": 500},
        type="Transient",
        non_retryable=True,
    )
    wrapped = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="w",
        activity_type="chat",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    wrapped.__cause__ = final
    assert step_failure(wrapped) == StepFailure(
        step="summarize", type=FailureType.TRANSIENT, attempts=5, last_error="HTTP 500", status=500
    )
    assert step_failure(ApplicationError("no details")) is None
