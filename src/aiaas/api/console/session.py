"""The console's session cookie and its CSRF rules, on the HTTP side.

A browser holds ``aiaas_session`` (HttpOnly, SameSite=Strict, Secure over TLS, Path=/, expiring
with the session); the API key it signed in with never reaches the page. The same cookie
authenticates the console's calls to the JSON API (``deps.get_principal``), which then demands:

- for every change (any method but GET/HEAD/OPTIONS): the session's CSRF token in
  ``X-CSRF-Token`` (a header no cross-site form can set) or, for a plain HTML form, the
  ``csrf_token`` field;
- an ``Origin`` (or, without one, a ``Referer``) of this server when the browser sends one: a form
  posted from another origin is refused even if a browser sent the cookie along.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from aiaas.auth.sessions import ConsoleSessionView, SignedIn
from aiaas.errors import Forbidden

COOKIE = "aiaas_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def check_origin(request: Request) -> None:
    """Refuse a browser's change sent from a page of another origin (``Forbidden``)."""
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if referer is None:
            return
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    if origin != own_origin(request):
        raise Forbidden(f"cross-origin request refused (from {origin})", details={"reason": "origin"})


def check_change(request: Request, view: ConsoleSessionView, form_token: str | None = None) -> None:
    """The CSRF rules for a change made with the session cookie."""
    if request.method in SAFE_METHODS:
        return
    check_origin(request)
    view.check_csrf(request.headers.get(CSRF_HEADER) or form_token)


def _secure(request: Request) -> bool:
    configured: bool | None = request.app.state.services.settings.console_secure_cookie
    return request.url.scheme == "https" if configured is None else configured


def set_session_cookie(request: Request, response: Response, signed: SignedIn) -> None:
    max_age = request.app.state.services.settings.console_session_s
    response.set_cookie(COOKIE, signed.token, max_age=int(max_age), path="/", httponly=True,
                        samesite="strict", secure=_secure(request))


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=_secure(request))
