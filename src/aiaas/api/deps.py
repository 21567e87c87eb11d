"""Dependencies every route reads the same way: ``ServicesDep``, ``PrincipalDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

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
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> Principal:
    if credentials is None:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
    cached = services.keys.cached(credentials.credentials)
    if cached is not None:
        return cached
    return await run_in_threadpool(services.keys.authenticate, credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def scoped(scope: Scope) -> object:
    """A dependency that authenticates and requires ``scope``."""

    async def dependency(principal: PrincipalDep) -> Principal:
        principal.require(scope)
        return principal

    return Depends(dependency)


def any_scope(*scopes: Scope) -> object:
    """A dependency that authenticates and requires at least one of ``scopes``."""

    async def dependency(principal: PrincipalDep) -> Principal:
        if not any(principal.allows(scope) for scope in scopes):
            principal.require(scopes[0])
        return principal

    return Depends(dependency)


AdminDep = Annotated[Principal, scoped(Scope.ADMIN)]
ReaderDep = Annotated[Principal, scoped(Scope.MODELS_READ)]
WriterDep = Annotated[Principal, scoped(Scope.MODELS_WRITE)]
ReaderOrPredictorDep = Annotated[Principal, any_scope(Scope.MODELS_READ, Scope.PREDICT)]
"""For what a client reads before it calls a model (V2 metadata and readiness)."""
