"""Registry routes: list, show, upload a version, move an alias, delete.

Translation only: the registry, the uploads service and the serving tuner check the key's scope
(``models:read`` to read, ``models:write`` to change) and own the workflow.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from aiaas.api.deps import PrincipalDep, ServicesDep
from aiaas.api.schemas import ERRORS, AliasUpdate, ModelList, VersionUpdate
from aiaas.registry.records import ModelInfo, VersionInfo

router = APIRouter(prefix="/api/v1/models", tags=["models"], responses=ERRORS)


@router.get("", response_model=ModelList)
async def list_models(principal: PrincipalDep, services: ServicesDep) -> ModelList:
    """Built-in models and the caller's tenant's own."""
    models = await asyncio.to_thread(services.registry.list_models, principal)
    return ModelList(models=models)


@router.get("/{name}", response_model=ModelInfo)
async def show_model(name: str, principal: PrincipalDep, services: ServicesDep) -> ModelInfo:
    return await asyncio.to_thread(services.registry.get_model, principal, name)


@router.get("/{name}/versions/{ref}", response_model=VersionInfo)
async def show_version(name: str, ref: str, principal: PrincipalDep,
                       services: ServicesDep) -> VersionInfo:
    """A version by number, or by alias (``production``, ``latest``)."""
    return await asyncio.to_thread(services.registry.get_version, principal, name, ref)


@router.post("/{name}/versions", response_model=VersionInfo, status_code=201, openapi_extra={
    "requestBody": {"required": True, "description": "A .tar.gz, .tar or .zip of the model "
                    "directory (safetensors, ONNX; an optional aiaas.json manifest).",
                    "content": {"application/octet-stream": {"schema": {
                        "type": "string", "format": "binary"}}}},
})
async def upload_version(
    name: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    task: Annotated[str | None, Query(description="Task; detected when omitted.")] = None,
    description: Annotated[str | None, Query(max_length=2000)] = None,
) -> VersionInfo:
    """Stream an archive to disk (size-limited), unpack it safely and register the next version."""
    return await services.uploads.register(principal, name, request.stream(), task=task,
                                           description=description)


@router.put("/{name}/aliases/{alias}", response_model=ModelInfo)
async def set_alias(name: str, alias: str, body: AliasUpdate, principal: PrincipalDep,
                    services: ServicesDep) -> ModelInfo:
    """Point an alias (e.g. ``production``) at a version; predict uses ``production`` by default."""
    return await asyncio.to_thread(services.registry.set_alias, principal, name, alias,
                                   body.version)


@router.patch("/{name}/versions/{version}", response_model=VersionInfo)
async def update_version(name: str, version: int, body: VersionUpdate, principal: PrincipalDep,
                         services: ServicesDep) -> VersionInfo:
    """Versions are immutable; only how they are served changes: ``preload``, batching, device,
    precision (int8 is built and measured first, and refused over ``max_accuracy_delta``)."""
    return await services.tuner.update(principal, name, version,
                                       body.model_dump(exclude_unset=True))


@router.delete("/{name}/versions/{version}", status_code=204)
async def delete_version(name: str, version: int, principal: PrincipalDep,
                         services: ServicesDep) -> Response:
    """Refused with 409 while an alias points at the version."""
    await asyncio.to_thread(services.registry.delete_version, principal, name, version)
    await services.placement.release((principal.tenant, name, version), retire=True)
    return Response(status_code=204)


@router.delete("/{name}", status_code=204)
async def delete_model(name: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    deleted = await asyncio.to_thread(services.registry.delete_model, principal, name)
    for version in deleted.versions:
        await services.placement.release(version.key, retire=True)
    return Response(status_code=204)
