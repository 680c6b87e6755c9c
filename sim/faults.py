"""Which fault, if any, a call gets (markers first, then the seeded global rates), and error bodies."""

from __future__ import annotations

import math
import random
from typing import Any

from fastapi.responses import JSONResponse

from sim.config import FAULT_KINDS
from sim.markers import MarkerCounters, Markers

HTTP_FAULTS = {"429": 429, "503": 503, "500": 500, "poison": 500}

_ERRORS: dict[int, tuple[str, str, str]] = {
    429: (
        "Rate limit reached for requests (simulated). Please retry after the delay given.",
        "requests",
        "rate_limit_exceeded",
    ),
    503: ("The server is overloaded or not ready yet (simulated).", "server_error", "overloaded"),
    500: ("The server had an error while processing your request (simulated).", "server_error", "server_error"),
}


def choose(markers: Markers, counters: MarkerCounters, rates: dict[str, float], rng: random.Random) -> str | None:
    """The fault for this call: poison, else the first counted marker still failing, else a global draw."""
    counted = counters.failing(markers)  # counts even under poison, so counters mean "calls carrying it"
    if markers.poison:
        return "poison"
    if counted:
        return counted
    if not rates:
        return None
    draw = rng.random()
    edge = 0.0
    for kind in FAULT_KINDS:  # fixed order keeps a seed's outcomes stable
        edge += rates.get(kind, 0.0)
        if draw < edge:
            return kind
    return None


def error_body(status: int, message: str | None = None, kind: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    default_message, default_type, code = _ERRORS.get(status, ("Invalid request.", "invalid_request_error", ""))
    return {
        "error": {
            "message": message or default_message,
            "type": kind or default_type,
            "param": None,
            "code": code or None,
        }
    }


def error_response(status: int, retry_after_s: float, message: str | None = None) -> JSONResponse:
    """The error response for an HTTP fault; 429 and 503 carry retry-after-ms and retry-after."""
    headers: dict[str, str] = {}
    if status in (429, 503):
        headers["retry-after-ms"] = str(round(retry_after_s * 1000))
        headers["retry-after"] = str(math.ceil(retry_after_s))
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)


def bad_request(message: str, param: str | None = None) -> JSONResponse:
    """A 400 invalid_request_error, as OpenAI sends for malformed requests."""
    body = error_body(400, message, "invalid_request_error")
    body["error"]["param"] = param
    return JSONResponse(body, status_code=400)
