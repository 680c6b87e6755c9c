"""ASGI plumbing: noticing client disconnects, waiting for a slot, and responses that settle the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from schemas.sim import CallStatus, SimLedgerCall
from sim.ledger import Ledger


class DisconnectWatcher:
    """Listens on an ASGI receive channel (after the body was read) and flags the client's disconnect."""

    def __init__(self, receive: Receive) -> None:
        self.gone = asyncio.Event()
        self._task = asyncio.create_task(self._listen(receive))

    async def _listen(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                return

    @property
    def disconnected(self) -> bool:
        """True once the client went away."""
        return self.gone.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep unless the client leaves first; True when the full time passed with the client still there."""
        if seconds <= 0:
            return not self.disconnected
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.gone.wait(), timeout=seconds)
        return not self.disconnected

    async def until_gone(self) -> None:
        """Wait for the client to disconnect (used by the hang fault)."""
        await self.gone.wait()

    async def acquire(self, slots: asyncio.Semaphore) -> bool:
        """Take a concurrency slot, queueing while all are busy; False (no slot held) if the client leaves."""
        if not slots.locked():
            await slots.acquire()
            return True
        taking = asyncio.ensure_future(slots.acquire())
        leaving = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait({taking, leaving}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            leaving.cancel()
        if taking.done() and not taking.cancelled():
            if self.disconnected:
                slots.release()
                return False
            return True
        taking.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await taking
        if taking.done() and not taking.cancelled():
            slots.release()  # acquired in the same instant it was cancelled
        return False

    def close(self) -> None:
        """Stop listening (the response is done or abandoned)."""
        self._task.cancel()


class LedgerJSONResponse(JSONResponse):
    """A JSON response that bills its call once the body was handed to the server."""

    def __init__(
        self,
        content: Any,
        ledger: Ledger,
        call: SimLedgerCall,
        prompt: int,
        completion: int,
        fault: str | None,
        watcher: DisconnectWatcher,
    ) -> None:
        super().__init__(content)
        self._settle = (ledger, call, prompt, completion, fault, watcher)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send, then record the delivery (or the disconnect that came first)."""
        ledger, call, prompt, completion, fault, watcher = self._settle
        if watcher.disconnected:
            watcher.close()
            ledger.finish(call, "disconnected", fault=fault)
            return
        watcher.close()
        try:
            await super().__call__(scope, receive, send)
        except Exception:
            ledger.finish(call, "disconnected", fault=fault)
            raise
        ledger.finish(call, self.status_code, prompt, completion, fault=fault)


class StreamResponse(Response):
    """Server-sent events in OpenAI's format, each chunk after its delay; owns one concurrency slot.

    The call is billed only when every chunk and the `[DONE]` line were sent; a client that leaves is
    recorded as "disconnected", a truncate fault as "truncated" (the connection is closed mid-stream).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        chunks: list[dict[str, Any]],
        delays: list[float],
        truncate_at: int | None,
        on_done: Callable[[CallStatus], None],
        release: Callable[[], None],
        watcher: DisconnectWatcher,
    ) -> None:
        super().__init__(headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
        # The body length is unknown up front: chunked transfer, no content-length.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._chunks = chunks
        self._delays = delays
        self._truncate_at = truncate_at
        self._on_done = on_done
        self._release = release
        self._watcher = watcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream the chunks; settle the ledger and free the slot whatever happens."""
        outcome: CallStatus = "disconnected"
        try:
            outcome = await self._stream(send)
        finally:
            self._watcher.close()
            self._release()
            self._on_done(outcome)

    async def _stream(self, send: Callable[[Any], Awaitable[None]]) -> CallStatus:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        # chunks[0] is the role chunk: a truncated stream still sends it and `truncate_at` pieces.
        limit = None if self._truncate_at is None else self._truncate_at + 1
        for index, (chunk, delay) in enumerate(zip(self._chunks, self._delays, strict=True)):
            if limit is not None and index >= limit:
                return "truncated"  # return without ending the body: uvicorn closes the connection
            if not await self._watcher.sleep(delay):
                return "disconnected"
            await send({"type": "http.response.body", "body": _event(chunk), "more_body": True})
        if self._watcher.disconnected:
            return "disconnected"
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})
        return 200


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"
