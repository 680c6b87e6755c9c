"""Inference activities against the simulator on a real Temporal worker: retries, dead letters, hangs, streaming."""

from __future__ import annotations

from itertools import pairwise

import pytest
import redis.asyncio
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from activities.retry import MAX_ATTEMPTS, step_failure
from runtime.keys import RedisKeys
from runtime.settings import Settings
from schemas.answer import Summary
from schemas.events import EventType, ProgressEvent
from schemas.failures import FailureType
from schemas.sim import SimLedger
from tests.inference_probe import Probe, Rig


@pytest.fixture
def rig(
    client: Client,
    servers: dict[str, str],
    isolated_settings: Settings,
    isolated_redis: redis.asyncio.Redis,
    unique: str,
) -> Rig:
    return Rig(client, isolated_settings, isolated_redis, unique, servers["sim_url"])


def chat(text: str, step: str = "answer", **extra: object) -> dict[str, object]:
    """A chat request body for the probe."""
    return {"step": step, "messages": [{"role": "user", "content": text}], **extra}


def billed(ledger: SimLedger) -> int:
    """Tokens the simulator billed across the ledger's entries."""
    return sum(entry.billed_tokens for entry in ledger.entries.values())


def calls(ledger: SimLedger, key: str) -> list[tuple[float, object]]:
    """(arrival, status) of every call made under one Idempotency-Key."""
    return [(c.arrival, c.status) for c in ledger.entries[key].calls]


async def test_429x7_completes_and_honours_retry_after(rig: Rig) -> None:
    result = await rig.run("429", Probe(activity="chat", request=chat(f"Hi [[sim:429x7#{rig.unique}]]")))
    ledger = await rig.ledger("429")
    seen = calls(ledger, f"{rig.wf('429')}/answer")
    # Seven throttles never dead-letter (more than MAX_ATTEMPTS failures): the eighth call completes the step.
    assert [status for _, status in seen] == [429] * 7 + [200]
    gaps = [b[0] - a[0] for a, b in pairwise(seen)]
    # The simulator asks for 1 s; the policy's own backoff would have grown to 1, 2, 4, ... 60 s.
    assert all(0.95 <= gap < 2.5 for gap in gaps), gaps
    assert result["content"] == "Hi"
    assert result["usage"]["billed_tokens"] == billed(ledger) > 0
    # Each retry's `step.retrying` names the failure class of the attempt before it (the console's waterfall).
    entries = await rig.redis.xrange(RedisKeys.of(rig.settings).events(rig.wf("429")))
    events = [ProgressEvent.from_stream_fields(fields) for _id, fields in entries]
    retrying = [e.data for e in events if e.type == EventType.STEP_RETRYING]
    assert retrying == [{"attempt": n, "failure": "Throttled"} for n in range(2, 9)], retrying


async def test_500x4_succeeds_on_the_fifth_attempt(rig: Rig) -> None:
    result = await rig.run("500x4", Probe(activity="chat", request=chat(f"Go [[sim:500x4#{rig.unique}]]")))
    ledger = await rig.ledger("500x4")
    seen = calls(ledger, f"{rig.wf('500x4')}/answer")
    assert [status for _, status in seen] == [500] * 4 + [200]
    gaps = [b[0] - a[0] for a, b in pairwise(seen)]
    assert gaps[3] > gaps[0]  # exponential backoff between counting failures (1, 2, 4, 8 s)
    assert result["usage"]["billed_tokens"] == billed(ledger) > 0


async def test_500x5_fails_after_exactly_five_attempts(rig: Rig) -> None:
    with pytest.raises(WorkflowFailureError) as failed:
        await rig.run("500x5", Probe(activity="chat", request=chat(f"Go [[sim:500x5#{rig.unique}]]")))
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("Transient", True)
    details = step_failure(activity_error)
    assert details is not None
    assert (details.step, details.type, details.attempts, details.status) == ("answer", FailureType.TRANSIENT, 5, 500)
    assert details.idempotency_key == f"{rig.wf('500x5')}/answer"
    ledger = await rig.ledger("500x5")
    assert [status for _, status in calls(ledger, f"{rig.wf('500x5')}/answer")] == [500] * MAX_ATTEMPTS
    assert billed(ledger) == 0


async def test_badjson_is_retried_then_valid(rig: Rig) -> None:
    request = {
        "step": "summarize",
        "schema_name": "summary",
        "messages": [{"role": "user", "content": f"The sky is blue. Grass is green. [[sim:badjsonx1#{rig.unique}]]"}],
    }
    result = await rig.run("badjson", Probe(activity="structured", request=request))
    Summary.model_validate(result["data"])
    ledger = await rig.ledger("badjson")
    assert [status for _, status in calls(ledger, f"{rig.wf('badjson')}/summarize")] == [200, 200]  # bad, then valid
    # The invalid reply was billed too: the step's usage reports both, so usage matches the invoice.
    assert result["usage"]["billed_tokens"] == billed(ledger) > 0


async def test_hang_times_out_is_retried_and_frees_the_slot(rig: Rig) -> None:
    probe = Probe(activity="chat", request=chat(f"Wait [[sim:hangx1#{rig.unique}]]"), inference_timeout_s=1.0)
    quick = rig.settings.model_copy(update={"inference_timeout_s": 1.0})  # the worker's client gives up after 1 s
    # One activity slot: the retry (and the next job) can only run if the hung attempt gave its slot back.
    async with rig.worker(quick, max_activities=1):
        result = await rig.probe("hang", probe)
        after = await rig.probe("hang-next", Probe(activity="chat", request=chat("Next")))
    seen = calls(await rig.ledger("hang"), f"{rig.wf('hang')}/answer")
    assert [status for _, status in seen] == ["hang", 200]
    assert 1.0 <= seen[1][0] - seen[0][0] < 5.0  # timed out by the client (1 s), retried after ~1 s
    assert result["content"] == "Wait"
    assert after["content"] == "Next"


async def test_streaming_chat_publishes_batched_token_events(rig: Rig) -> None:
    text = "Temporal retries activities. Redis holds locks. " * 6
    result = await rig.run("stream", Probe(activity="chat", request=chat(text, stream=True)))
    entries = await rig.redis.xrange(RedisKeys.of(rig.settings).events(rig.wf("stream")))
    events = [ProgressEvent.from_stream_fields(fields) for _id, fields in entries]
    types = [e.type for e in events]
    assert types[0] == EventType.STEP_STARTED and events[0].data == {"attempt": 1}
    assert types[-1] == EventType.STEP_COMPLETED
    assert events[-1].data["usage"]["billed_tokens"] == result["usage"]["billed_tokens"] > 0
    deltas = [e.data["delta"] for e in events if e.type == EventType.TOKEN]
    assert "".join(deltas) == result["content"] != ""
    assert 1 <= len(deltas) < result["usage"]["completion_tokens"]  # batched, not one event per token
    assert result["usage"]["billed_tokens"] == billed(await rig.ledger("stream"))


async def test_embeddings_are_batched_and_usage_summed(rig: Rig) -> None:
    texts = [f"text number {i} {rig.unique}" for i in range(300)]
    result = await rig.run("embed", Probe(activity="embed", request={"step": "embed", "texts": texts}))
    assert len(result["vectors"]) == 300
    assert len({len(v) for v in result["vectors"]}) == 1
    ledger = await rig.ledger("embed")
    wf = rig.wf("embed")
    assert sorted(ledger.entries) == [f"{wf}/embed#0", f"{wf}/embed#1", f"{wf}/embed#2"]  # 128 + 128 + 44
    assert result["usage"]["billed_tokens"] == result["usage"]["prompt_tokens"] == billed(ledger) > 0


async def test_unknown_schema_is_permanent(rig: Rig) -> None:
    request = {"step": "x", "schema_name": "nope", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(WorkflowFailureError) as failed:
        await rig.run("schema", Probe(activity="structured", request=request))
    cause = failed.value.cause.cause  # type: ignore[union-attr]
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("Permanent", True)
    assert "nope" in cause.message
    details = step_failure(failed.value.cause)  # type: ignore[arg-type]
    assert details is not None and (details.step, details.attempts) == ("x", 1)


async def test_throttling_stops_at_the_step_deadline(rig: Rig) -> None:
    probe = Probe(activity="chat", request=chat(f"Hi [[sim:429x50#{rig.unique}]]"), step_deadline_s=4.0)
    with pytest.raises(WorkflowFailureError) as failed:
        await rig.run("deadline", probe)
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    # The deadline, not a count, ends throttling: Temporal reports the last Throttled error with retry state TIMEOUT.
    assert activity_error.retry_state == RetryState.TIMEOUT
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError)
    assert (cause.type, cause.non_retryable) == ("Throttled", False)
    statuses = [c.status for c in (await rig.ledger("deadline")).entries[f"{rig.wf('deadline')}/answer"].calls]
    assert statuses == [429] * len(statuses) and 3 <= len(statuses) <= 5


async def test_permanent_error_fails_at_once(rig: Rig) -> None:
    probe = Probe(activity="chat", request=chat("Hi", max_tokens=0))  # the provider refuses: 400
    with pytest.raises(WorkflowFailureError) as failed:
        await rig.run("400", probe)
    details = step_failure(failed.value.cause)  # type: ignore[arg-type]
    assert details is not None
    assert (details.type, details.attempts, details.status) == (FailureType.PERMANENT, 1, 400)
    assert billed(await rig.ledger("400")) == 0  # refused up front: nothing billed
    # The lock was released, not left to go stale: a corrected re-run of the step would proceed at once.
    assert await rig.redis.get(RedisKeys.of(rig.settings).idempotency(f"{rig.wf('400')}/answer")) is None
