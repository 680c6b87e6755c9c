"""Every gateway error as `application/problem+json` (RFC 9457): one exception type, one handler per error source."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.at_rest import AtRestKeyError
from runtime.codec import PayloadDecryptionError
from runtime.logging import get_logger
from schemas.gateway import PROBLEM_JSON, Problem

log = get_logger(__name__)
JSON_EXCERPT = 20  # characters either side of where a malformed body stopped parsing


class ProblemError(Exception):
    """Raise to answer with a problem document; `headers` (e.g. Retry-After, WWW-Authenticate) go along."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = Problem(title=HTTPStatus(status).phrase, status=status, detail=detail, **extra)
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _json_error(error: dict[str, Any], body: Any) -> dict[str, Any]:
    """A body that is not JSON: what the parser expected and where (line, column, the text around it)."""
    doc = body if isinstance(body, str) else ""
    loc = error.get("loc", ())
    pos = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
    line = doc.count("\n", 0, pos) + 1
    column = pos - (doc.rfind("\n", 0, pos) + 1) + 1
    near = doc[max(0, pos - JSON_EXCERPT) : pos + JSON_EXCERPT].replace("\n", " ")
    reason = str((error.get("ctx") or {}).get("error") or "invalid JSON")
    msg = f"not valid JSON: {reason} at line {line}, column {column} (near {near!r})"
    return {"loc": ["body"], "msg": msg, "type": "json_invalid", "line": line, "column": column}


def _validation_detail(err: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = [
        _json_error(e, err.body)
        if e.get("type") == "json_invalid"
        else {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in err.errors()
    ]
    summary = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc']) or 'body'}: {e['msg']}" for e in errors)
    return summary or "invalid request", errors


def install(app: FastAPI) -> None:
    """Route FastAPI's, Starlette's and our own errors through problem+json."""

    @app.exception_handler(ProblemError)
    async def _problem(_request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.detail, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = _validation_detail(exc)
        return problem_response(422, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.exception_handler(PayloadDecryptionError)
    @app.exception_handler(AtRestKeyError)
    async def _undecryptable(request: Request, exc: ValueError) -> JSONResponse:
        # Configuration, not input: the message names the missing key id (never a key) so operators can fix it.
        log.error("cannot decrypt", path=request.url.path, error=str(exc))
        return problem_response(500, f"cannot decrypt this job's data: {exc}")

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        # Never a traceback to the caller; the log keeps it.
        log.exception("gateway request failed", path=request.url.path, error=str(exc))
        return problem_response(500, "internal error; see the gateway log")
