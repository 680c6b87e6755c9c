"""`GET/POST /ui/login`: the console's sign-in (an API key in, a session cookie out); the session primitive only."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from gateway.session import session_value, set_session
from gateway.state import GatewayDep, rate_limited

router = APIRouter(prefix="/ui", tags=["console"])

_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>genai-flow: sign in</title></head>
<body><main><h1>genai-flow</h1>{message}
<form method="post" action="/ui/login">
<label>API key <input type="password" name="api_key" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form></main></body></html>
"""


def _safe_next(target: str | None) -> str:
    # Only a path on this gateway: never an absolute or scheme-relative URL (an open redirect).
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/jobs"


def _form(message: str = "", next_: str | None = None, status: int = 200) -> HTMLResponse:
    note = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return HTMLResponse(_FORM.format(message=note, next=html.escape(_safe_next(next_))), status_code=status)


@router.get("/login", response_class=HTMLResponse)
async def login_form(next: str | None = None) -> HTMLResponse:
    """The sign-in form (its API-key field is named `api_key`)."""
    return _form(next_=next)


_LOGIN_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key"],
                    "additionalProperties": False,
                    "properties": {
                        "api_key": {"type": "string", "maxLength": 512},
                        "next": {"type": "string", "maxLength": 2048},
                    },
                }
            }
        },
    }
}


@router.post(
    "/login",
    response_model=None,
    status_code=303,
    openapi_extra=_LOGIN_BODY,
    responses={
        303: {"description": "signed in: the session cookie is set, on to the console"},
        400: {"content": {"text/html": {}}, "description": "malformed form: the form again"},
        401: {"content": {"text/html": {}}, "description": "unknown API key: the form again"},
    },
)
async def login(request: Request, gw: GatewayDep) -> RedirectResponse | HTMLResponse:
    """Check the key and set the session cookie (HttpOnly, SameSite=Lax, Secure over TLS); 303 to the console."""
    # A plain urlencoded form, parsed here: the body is small (the gateway's size limit applies) and one field.
    try:
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"), max_num_fields=10)
    except ValueError:
        return _form("too many form fields", status=400)
    api_key, next_ = (form.get(name, [""])[0] for name in ("api_key", "next"))
    caller = gw.keys.match(api_key) if api_key else None
    if caller is None:
        return _form("unknown API key", next_, status=401)
    await rate_limited(gw, caller)
    response = RedirectResponse(_safe_next(next_), status_code=303)
    set_session(response, request, session_value(gw.session_signer, caller))
    return response
