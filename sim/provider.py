"""The simulator as a limited provider: RPM/TPM limits counted as OpenAI counts them, and an outage switch.

Limits (`--rpm N`, `--tpm N`): sliding 60 s windows (`--limit-window S` shortens them for tests). A request counts
at arrival: one request, and its prompt tokens plus its output bound (`max_completion_tokens` / `max_tokens`, 1,024
when absent) for chat, its input tokens for embeddings. A request that would pass a limit is refused with 429,
`Retry-After` / `retry-after-ms` (the time until it would fit) and `x-ratelimit-limit|remaining|reset-requests|tokens`;
it counts toward nothing.
`GET /sim/limits` shows the windows and how many calls each limit refused.

Outage (`POST /sim/outage {"status": 503, "seconds": 60}`): every call is answered with that status until the time is
up (503 and 429 carry Retry-After), so tests can take a provider down and bring it back without restarting it. With
`"rate": 0.5` only that share of the calls is refused (a 429 storm: half the calls throttled for a minute).
"""

from __future__ import annotations

import math
import random
import time
from collections import deque

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sim.faults import error_body, error_response

WINDOW_S = 60.0
CHAT_DEFAULT_BOUND = 1024


class LimitsView(BaseModel):
    """`GET /sim/limits`: limits, the windows' use now, refusals since start."""

    rpm: int | None
    tpm: int | None
    requests: int = Field(description="requests counted in the last 60 s")
    tokens: int = Field(description="tokens counted in the last 60 s")
    refused_rpm: int
    refused_tpm: int
    counted_tokens_total: int = Field(description="tokens counted since start or the last reset")
    counted_requests_total: int
    outage_status: int | None = None
    outage_left_s: float = 0.0
    outage_rate: float | None = None


class Outage(BaseModel):
    """`POST /sim/outage`: answer every call (or a `rate` share of them) with `status` for `seconds` (0 ends it)."""

    status: int = Field(503, ge=400, le=599)
    seconds: float = Field(60.0, ge=0, le=3600)
    rate: float = Field(1.0, gt=0, le=1, description="share of the calls refused, drawn per call")


def _reset(seconds: float) -> str:
    return f"{max(seconds, 0.001):.3f}s"


class ProviderLimits:
    """One simulator's request and token windows (single event loop: no locking needed)."""

    def __init__(self, rpm: int | None, tpm: int | None, window_s: float = WINDOW_S) -> None:
        self.rpm, self.tpm, self.window_s = rpm, tpm, window_s
        self.window: deque[tuple[float, int]] = deque()
        self.tokens = 0
        self.refused = {"rpm": 0, "tpm": 0}
        self.counted_tokens = 0
        self.counted_requests = 0
        self.outage_until = 0.0
        self.outage_status = 503
        self.outage_rate = 1.0
        self.outage_draws = random.Random(0)  # noqa: S311 - seeded: a storm refuses the same calls after a reset

    def _expire(self, now: float) -> None:
        while self.window and self.window[0][0] <= now - self.window_s:
            self.tokens -= self.window.popleft()[1]

    def admit(self, tokens: int, retry_after_s: float) -> JSONResponse | None:
        """Count a request of `tokens` at arrival, or the response refusing it (an outage, or a limit passed)."""
        now = time.monotonic()
        if now < self.outage_until and self.outage_draws.random() < self.outage_rate:
            return error_response(self.outage_status, min(retry_after_s, self.outage_until - now))
        self._expire(now)
        wait_requests = wait_tokens = 0.0
        if self.rpm is not None and len(self.window) + 1 > self.rpm:
            wait_requests = self.window[0][0] + self.window_s - now
        if self.tpm is not None and self.tokens + tokens > self.tpm:
            freed, wait_tokens = 0, self.window_s
            for arrived, counted in self.window:
                freed += counted
                if self.tokens - freed + tokens <= self.tpm:
                    wait_tokens = arrived + self.window_s - now
                    break
        if wait_requests or wait_tokens:  # (both stay 0 without limits: every call is counted, none refused)
            self.refused["rpm" if wait_requests >= wait_tokens else "tpm"] += 1
            return self._refusal(wait_requests, wait_tokens)
        self.window.append((now, tokens))
        self.tokens += tokens
        self.counted_tokens += tokens
        self.counted_requests += 1
        return None

    def _refusal(self, wait_requests: float, wait_tokens: float) -> JSONResponse:
        wait = max(wait_requests, wait_tokens)
        which = "requests" if wait_requests >= wait_tokens else "tokens"
        body = error_body(429, f"Rate limit reached for {which} per min. Please try again in {wait:.3f}s.")
        body["error"]["code"] = "rate_limit_exceeded"
        headers = {"retry-after": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000))}
        if self.rpm is not None:
            remaining = max(0, self.rpm - len(self.window))
            headers |= {"x-ratelimit-limit-requests": str(self.rpm), "x-ratelimit-remaining-requests": str(remaining),
                        "x-ratelimit-reset-requests": _reset(wait_requests)}  # fmt: skip
        if self.tpm is not None:
            remaining = max(0, self.tpm - self.tokens)
            headers |= {"x-ratelimit-limit-tokens": str(self.tpm), "x-ratelimit-remaining-tokens": str(remaining),
                        "x-ratelimit-reset-tokens": _reset(wait_tokens)}  # fmt: skip
        return JSONResponse(body, status_code=429, headers=headers)

    def start_outage(self, outage: Outage) -> None:
        """Answer every call with `outage.status` for `outage.seconds` from now."""
        self.outage_status, self.outage_rate = outage.status, outage.rate
        self.outage_until = time.monotonic() + outage.seconds

    def view(self) -> LimitsView:
        """The windows now."""
        now = time.monotonic()
        self._expire(now)
        left = max(0.0, self.outage_until - now)
        return LimitsView(
            rpm=self.rpm, tpm=self.tpm, requests=len(self.window), tokens=self.tokens,
            refused_rpm=self.refused["rpm"], refused_tpm=self.refused["tpm"],
            counted_tokens_total=self.counted_tokens, counted_requests_total=self.counted_requests,
            outage_status=self.outage_status if left else None, outage_left_s=left,
            outage_rate=self.outage_rate if left else None,
        )  # fmt: skip

    def reset(self) -> None:
        """Empty the windows and counters (and end an outage)."""
        self.__init__(self.rpm, self.tpm, self.window_s)  # type: ignore[misc]
