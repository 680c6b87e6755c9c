"""Console sessions: a signed cookie naming a key id (never the key), and CSRF tokens for the console's forms.

`POST /ui/login` (gateway/routes_login.py) checks an API key and sets the cookie: HttpOnly, SameSite=Lax, Secure
over TLS, signed with a key derived from the server secret. A session lives SESSION_TTL_S and dies with its key
(a key removed from GENAI_FLOW_API_KEYS ends its sessions). A CSRF token is an HMAC of the session cookie under
its own derived key: a form that changes something carries it, and a page from another site cannot read it.
"""

from __future__ import annotations

import hmac
import re
import time

from fastapi import Request, Response

from gateway.auth import Caller, KeyRing
from runtime.server_secret import Signer

COOKIE = "genai_flow_session"
SESSION_TTL_S = 8 * 3600
_VALUE = re.compile(r"^([0-9a-f]{12}|local)\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$")


def _message(owner: str, expires: int) -> str:
    return f"session\n{owner}\n{expires}"


def session_value(signer: Signer, caller: Caller, now: float | None = None) -> str:
    """`<key id>.<expiry>.<hmac>`: the cookie's value for this caller."""
    expires = int((time.time() if now is None else now) + SESSION_TTL_S)
    return f"{caller.key_id}.{expires}.{signer.sign(_message(caller.key_id, expires))}"


def session_caller(signer: Signer, ring: KeyRing, value: str | None, now: float | None = None) -> Caller | None:
    """The caller a valid, unexpired session cookie names; None for anything else."""
    parsed = _VALUE.match(value or "")
    if parsed is None:
        return None
    owner, expires_s, signature = parsed.groups()
    if int(expires_s) < (time.time() if now is None else now) or not signer.verify(
        _message(owner, int(expires_s)), signature
    ):
        return None
    return ring.by_id(owner)


def set_session(response: Response, request: Request, value: str) -> None:
    """Attach the session cookie (Secure when the request came over TLS)."""
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_TTL_S,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def csrf_token(signer: Signer, session: str) -> str:
    """The CSRF token to embed in a console form of this session (`signer` is the `csrf` one)."""
    return signer.sign(f"csrf\n{session}")


def csrf_ok(signer: Signer, session: str | None, token: str | None) -> bool:
    """True when `token` is the CSRF token of this session."""
    if not session or not token:
        return False
    return hmac.compare_digest(csrf_token(signer, session).encode(), token.encode())
