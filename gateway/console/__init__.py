"""The web console under /ui: server-rendered pages (Jinja2) behind the sign-in session, forms with CSRF tokens.

Sign-in itself is gateway/routes_login.py; sessions and CSRF tokens are gateway/session.py.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from gateway.console import actions, pages
from gateway.console.access import CsrfRefused, SignInRequired
from gateway.console.actions import UPLOAD_PATH
from gateway.console.render import page

__all__ = ["UPLOAD_PATH", "install"]


def install(app: FastAPI) -> None:
    """Add the console's routes, and answer a missing session with a redirect, a bad CSRF token with a 403 page."""
    app.include_router(pages.router)
    app.include_router(actions.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> RedirectResponse:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(_request: Request, _exc: CsrfRefused) -> HTMLResponse:
        detail = "this form is missing its security token (CSRF); reload the page and try again"
        return page("error.html", None, http_status=403, status_code=403, detail=detail)
