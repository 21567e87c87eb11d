"""Dependencies every route reads the same way: ``ServicesDep``, ``PrincipalDep``.

Routes only authenticate; the services check scopes (``Principal.require``). A request without
a bearer key may carry the web console's session cookie instead (``api/console/session.py``:
changes then need the session's CSRF token and a same-origin browser)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from aiaas.api.console import session
from aiaas.auth.principal import Principal, Scope
from aiaas.errors import Unauthenticated
from aiaas.services import Services

bearer = HTTPBearer(auto_error=False, description="An aiaas API key: `aiaas keys create`.")


async def get_services(request: Request) -> Services:
    """Async on purpose: FastAPI runs a plain ``def`` dependency on its thread pool, a thread hop
    on every request for an attribute read."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    if credentials is None:
        token = request.cookies.get(session.COOKIE)
        if not token:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        view = services.sessions.cached(token)
        if view is None:
            view = await run_in_threadpool(services.sessions.resolve, token)
        session.check_change(request, view)
        principal = view.principal
    else:
        cached = services.keys.cached(credentials.credentials)
        if cached is None:
            cached = await run_in_threadpool(services.keys.authenticate, credentials.credentials)
        principal = cached
    await services.tenants.directory.check_enabled(principal.tenant)  # 403 tenant_disabled
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def _admin(principal: PrincipalDep) -> Principal:
    principal.require(Scope.ADMIN)
    return principal


AdminDep = Annotated[Principal, Depends(_admin)]
"""Only for the operator's routes that read process state, not a service (``/metrics``,
``/api/v1/runtime``). Every other route takes ``PrincipalDep`` and leaves the scope to the
service it calls, so a console page calling the same method gets the same check."""
