"""Sign-in, sign-out and the first admin's one-time link.

The key is posted once in a form body (never a URL), exchanged for a session cookie and
forgotten. Sign-in posts are checked for origin (no login CSRF); sign-out needs the CSRF token.
"""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from aiaas.api.console.render import PageRoute, SessionDep, page
from aiaas.api.console.session import (
    COOKIE,
    check_change,
    check_origin,
    clear_session_cookie,
    set_session_cookie,
)
from aiaas.errors import Unauthenticated

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no host, not ``//evil`` nor ``/\\evil``, which
    browsers read as ``//evil``) may be returned to."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return "/"
    parts = urlsplit(target)
    return "/" if parts.scheme or parts.netloc else target


@router.get("/sign-in")
async def sign_in_form(request: Request, next: str | None = None,
                       reason: str | None = None) -> Response:
    return page(request, None, "sign_in.html", next=_safe_next(next), reason=reason)


@router.post("/sign-in")
async def sign_in(request: Request, api_key: Annotated[str, Form(max_length=512)] = "",
                  next: Annotated[str, Form(max_length=2048)] = "/") -> Response:
    check_origin(request)
    try:
        signed = await asyncio.to_thread(request.app.state.services.sessions.sign_in, api_key)
    except Unauthenticated as exc:
        return page(request, None, "sign_in.html", status_code=401, next=_safe_next(next),
                    reason=exc.message)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_session_cookie(request, response, signed)
    return response


@router.get("/sign-in/first-admin")
async def first_admin_form(request: Request) -> Response:
    """The link ``aiaas serve`` prints carries its token after ``#``: browsers never send it, so
    it stays out of access logs; the page's script copies it into the form."""
    return page(request, None, "first_admin.html")


@router.post("/sign-in/first-admin")
async def first_admin(request: Request,
                      token: Annotated[str, Form(max_length=256)] = "") -> Response:
    check_origin(request)
    try:
        signed = await asyncio.to_thread(request.app.state.services.sessions.redeem_link, token)
    except Unauthenticated as exc:
        return page(request, None, "first_admin.html", status_code=401, reason=exc.message)
    response = RedirectResponse("/keys?welcome=1", status_code=303)
    set_session_cookie(request, response, signed)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, view: SessionDep,
                   csrf_token: Annotated[str, Form(max_length=128)] = "") -> Response:
    check_change(request, view, csrf_token)
    await asyncio.to_thread(request.app.state.services.sessions.sign_out,
                            request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/sign-in?reason=" + "signed+out", status_code=303)
    clear_session_cookie(request, response)
    return response
