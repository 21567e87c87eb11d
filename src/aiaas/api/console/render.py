"""How console pages are answered: templates, the signed-in dependency, and errors as pages.

Page routes use ``PageRoute``: a domain error becomes a page, not JSON. Not signed in (or a
session that no longer holds) redirects to the sign-in page with the path to come back to; a
missing scope is a 403 page naming it (the server refuses the URL, the menu only hides it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from aiaas import __version__
from aiaas.api.console.security import PAGE_HEADERS
from aiaas.api.console.session import COOKIE
from aiaas.api.errors import status_for
from aiaas.auth.principal import Scope
from aiaas.auth.sessions import ConsoleSessions, ConsoleSessionView
from aiaas.errors import AiaasError, Unauthenticated

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["version"] = __version__


def amount(value: Decimal | float | int | None) -> str:
    """A money amount as people read it: exact, without the database's trailing zeros."""
    return "" if value is None else f"{Decimal(value).normalize():f}"


templates.env.filters["amount"] = amount


class SignInNeeded(Exception):
    """Raised by ``signed_in`` when the request holds no usable session."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


async def signed_in(request: Request) -> ConsoleSessionView:
    token = request.cookies.get(COOKIE)
    if not token:
        raise SignInNeeded("")
    sessions: ConsoleSessions = request.app.state.services.sessions
    view = sessions.cached(token)
    if view is not None:
        return view
    try:
        return await asyncio.to_thread(sessions.resolve, token)
    except Unauthenticated as exc:
        raise SignInNeeded(exc.message) from exc


SessionDep = Annotated[ConsoleSessionView, Depends(signed_in)]


def page(request: Request, view: ConsoleSessionView | None, template: str, *,
         status_code: int = 200, **context: Any) -> Response:
    """Render ``template`` with what every page shows: who is signed in and what they may open."""
    principal = view.principal if view is not None else None
    response = templates.TemplateResponse(request, template, {
        "principal": principal,
        "csrf_token": view.csrf_token if view is not None else "",
        "is_admin": principal is not None and principal.allows(Scope.ADMIN),
        "can_train": principal is not None and principal.allows(Scope.MODELS_WRITE),
        "path": request.url.path,
        **context,
    }, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded as exc:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                location = f"/sign-in?next={quote(target, safe='')}"
                if exc.reason:
                    location += f"&reason={quote(exc.reason, safe='')}"
                return RedirectResponse(location, status_code=303)
            except AiaasError as exc:
                token = request.cookies.get(COOKIE)
                view = None
                if token:
                    try:
                        view = await asyncio.to_thread(
                            request.app.state.services.sessions.resolve, token)
                    except Unauthenticated:
                        view = None
                return page(request, view, "error.html", status_code=status_for(exc),
                            error=exc)

        return answer
