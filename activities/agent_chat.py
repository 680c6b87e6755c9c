"""`agent_chat`: one tool-calling model call of an agent, with its transcript kept in Redis instead of history.

The workflow passes only the transcript's committed length and the messages to add (the task, tool results);
the activity trims anything a failed earlier attempt left past that length, appends, calls the model through the
never-pay-twice `chat` path (`activities/attempt.py`: Idempotency-Key `<workflow_id>/<step>`, lock, stored result)
and appends the assistant's reply. Every write is relative to the committed length, so retries are idempotent.
"""

from __future__ import annotations

import redis.asyncio
from redis.exceptions import RedisError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.inference import InferenceActivities
from runtime.at_rest import PLAIN, AtRest, at_rest_for
from runtime.keys import RedisKeys
from runtime.settings import Settings
from schemas.agent import AgentChatRequest, AgentChatResult
from schemas.failures import FailureType
from schemas.inference import ChatMessage, ChatRequest


class TranscriptStore:
    """An agent's transcript as a Redis list of JSON messages; writes are idempotent relative to a length."""

    def __init__(self, redis: redis.asyncio.Redis, keys: RedisKeys, at_rest: AtRest = PLAIN) -> None:
        self.redis = redis
        self.keys = keys
        self.at_rest = at_rest  # messages (prompts, replies, tool results) rest encrypted when keys are set

    async def extend(self, job_id: str, length: int, messages: list[ChatMessage], ttl_s: int) -> list[ChatMessage]:
        """Keep the first `length` messages, append `messages`, refresh the TTL; returns the whole transcript."""
        key = self.keys.agent_transcript(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            if length == 0:
                pipe.delete(key)
            else:
                pipe.ltrim(key, 0, length - 1)
            if messages:
                pipe.rpush(key, *(self.at_rest.seal(m.model_dump_json(exclude_none=True), key) for m in messages))
            pipe.expire(key, ttl_s)
            pipe.lrange(key, 0, -1)
            results = await pipe.execute()
        transcript = [ChatMessage.model_validate_json(self.at_rest.open(raw, key)) for raw in results[-1]]
        if len(transcript) != length + len(messages):
            # Expired (the run outlived its TTL) or written by someone else: never call the model on a wrong prompt.
            raise ApplicationError(
                f"agent transcript of {job_id} has {len(transcript)} messages, expected {length + len(messages)}",
                type=FailureType.PERMANENT.value,
                non_retryable=True,
            )
        return transcript

    async def read(self, job_id: str) -> list[ChatMessage]:
        """The whole transcript (for people and tests)."""
        key = self.keys.agent_transcript(job_id)
        raw = await self.redis.lrange(key, 0, -1)
        return [ChatMessage.model_validate_json(self.at_rest.open(r, key)) for r in raw]


class AgentChatActivities:
    """The `agent_chat` activity on `genai-inference`, built on the inference activities' `chat`."""

    def __init__(self, inference: InferenceActivities, redis: redis.asyncio.Redis, settings: Settings) -> None:
        self.inference = inference
        self.transcripts = TranscriptStore(redis, RedisKeys.of(settings), at_rest_for(settings.encryption_entries))

    @activity.defn(name="agent_chat")
    async def agent_chat(self, req: AgentChatRequest) -> AgentChatResult:
        """Append `req.append` to the transcript, ask the model (tools offered), append and return its reply."""
        try:
            messages = await self.transcripts.extend(req.job_id, req.transcript_len, req.append, req.ttl_s)
        except (RedisError, OSError) as err:
            raise ApplicationError(f"transcript store unavailable: {err}", type=FailureType.TRANSIENT.value) from err
        call = ChatRequest(
            step=req.step,
            index=req.index,
            model=req.model,
            job_id=req.events_job_id,
            messages=messages,
            tools=req.tools or None,
        )
        result = await self.inference.chat(call)
        reply = ChatMessage(role="assistant", content=result.content or None, tool_calls=result.tool_calls or None)
        committed = len(messages)
        try:
            await self.transcripts.extend(req.job_id, committed, [reply], req.ttl_s)
        except (RedisError, OSError) as err:
            # The reply is stored under its Idempotency-Key: the retry gets it back without paying again.
            raise ApplicationError(f"transcript store unavailable: {err}", type=FailureType.TRANSIENT.value) from err
        return AgentChatResult(
            content=result.content, tool_calls=result.tool_calls, usage=result.usage, transcript_len=committed + 1
        )
