"""Who is looking at a console page: the session cookie's key (else a redirect to sign-in), and CSRF checks.

Built on gateway/session.py: the cookie names a key id, the CSRF token is an HMAC of the cookie. Every console page
depends on `ConsoleUserDep`; every form that changes something posts a `csrf` field checked by `check_csrf`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from gateway.auth import Caller
from gateway.session import COOKIE, csrf_ok, csrf_token, session_caller
from gateway.state import Gateway, GatewayDep, rate_limited


class SignInRequired(Exception):
    """No valid session: the page answers 303 to /ui/login, coming back to `next_url` after sign-in."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url

    @property
    def location(self) -> str:
        """Where the browser goes: the sign-in form, remembering this page."""
        return f"/ui/login?next={quote(self.next_url, safe='/')}"


class CsrfRefused(Exception):
    """A console form posted without its session's CSRF token."""


@dataclass(frozen=True)
class ConsoleUser:
    """A signed-in console user: the key's caller, its session cookie and the CSRF token of its forms."""

    caller: Caller
    session: str
    csrf: str


async def console_user(request: Request, gw: GatewayDep) -> ConsoleUser:
    """The signed-in user of this request (rate-limited like its key over the API), or SignInRequired."""
    session = request.cookies.get(COOKIE)
    caller = session_caller(gw.session_signer, gw.keys, session)
    if caller is None or session is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path if request.method == "GET" else "/ui/jobs")
    await rate_limited(gw, caller)
    return ConsoleUser(caller, session, csrf_token(gw.csrf_signer, session))


ConsoleUserDep = Annotated[ConsoleUser, Depends(console_user)]


def check_csrf(gw: Gateway, user: ConsoleUser, token: str | None) -> None:
    """Refuse (CsrfRefused, a 403 page) a form whose `csrf` field is not this session's token."""
    if not csrf_ok(gw.csrf_signer, user.session, token):
        raise CsrfRefused
