"""Routes for API keys (the key service allows them to admins), and ``/api/v1/me`` for any key."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS, KeyCreate, KeyCreated, KeyList, WhoAmI
from aiaas.auth.keys import KeyInfo

router = APIRouter(prefix="/api/v1", tags=["keys"], responses=ERRORS)


@router.get("/me", response_model=WhoAmI)
async def whoami(principal: PrincipalDep) -> WhoAmI:
    return WhoAmI(tenant=principal.tenant, key_id=principal.key_id,
                  scopes=sorted(principal.scopes))


@router.post("/keys", response_model=KeyCreated, status_code=201)
async def create_key(body: KeyCreate, principal: PrincipalDep, services: ServicesDep) -> KeyCreated:
    """Create a key (admin); the secret is in this response only."""
    created = await asyncio.to_thread(
        services.keys.create, principal, name=body.name, tenant=body.tenant or None,
        scopes=body.scopes, admin=body.admin, expires_at=body.expires_at,
    )
    return KeyCreated.with_secret(created)


@router.get("/keys", response_model=KeyList)
async def list_keys(principal: PrincipalDep, services: ServicesDep, tenant: str | None = None,
                    include_revoked: bool = False) -> KeyList:
    """Keys of every tenant, or of ``tenant`` (admin); never their secrets."""
    keys = await asyncio.to_thread(services.keys.list, principal, tenant=tenant,
                                   include_revoked=include_revoked)
    return KeyList(keys=keys)


@router.delete("/keys/{key_id}", response_model=KeyInfo)
async def revoke_key(key_id: str, principal: PrincipalDep, services: ServicesDep) -> KeyInfo:
    """Revoke at once (admin): the next request with this key gets 401."""
    return await asyncio.to_thread(services.keys.revoke, principal, key_id)
