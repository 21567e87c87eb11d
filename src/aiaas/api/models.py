"""Registry routes: list, show, upload a version, move an alias, delete."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from aiaas.api.deps import ReaderDep, ServicesDep, WriterDep
from aiaas.api.schemas import ERRORS, AliasUpdate, ModelList, VersionUpdate
from aiaas.errors import Invalid
from aiaas.registry.service import ModelInfo, VersionInfo

router = APIRouter(prefix="/api/v1/models", tags=["models"], responses=ERRORS)


@router.get("", response_model=ModelList)
async def list_models(principal: ReaderDep, services: ServicesDep) -> ModelList:
    """Built-in models and the caller's tenant's own."""
    models = await asyncio.to_thread(services.registry.list_models, principal.tenant)
    return ModelList(models=models)


@router.get("/{name}", response_model=ModelInfo)
async def show_model(name: str, principal: ReaderDep, services: ServicesDep) -> ModelInfo:
    return await asyncio.to_thread(services.registry.get_model, principal.tenant, name)


@router.get("/{name}/versions/{ref}", response_model=VersionInfo)
async def show_version(name: str, ref: str, principal: ReaderDep,
                       services: ServicesDep) -> VersionInfo:
    """A version by number, or by alias (``production``, ``latest``)."""
    return await asyncio.to_thread(services.registry.resolve, principal.tenant, name, ref)


@router.post("/{name}/versions", response_model=VersionInfo, status_code=201, openapi_extra={
    "requestBody": {"required": True, "description": "A .tar.gz, .tar or .zip of the model "
                    "directory (safetensors, ONNX; an optional aiaas.json manifest).",
                    "content": {"application/octet-stream": {"schema": {
                        "type": "string", "format": "binary"}}}},
})
async def upload_version(
    name: str,
    request: Request,
    principal: WriterDep,
    services: ServicesDep,
    task: Annotated[str | None, Query(description="Task; detected when omitted.")] = None,
    description: Annotated[str | None, Query(max_length=2000)] = None,
) -> VersionInfo:
    """Stream an archive to disk (size-limited), unpack it safely and register the next version."""
    return await services.uploads.register(principal, name, request.stream(), task=task,
                                           description=description)


@router.put("/{name}/aliases/{alias}", response_model=ModelInfo)
async def set_alias(name: str, alias: str, body: AliasUpdate, principal: WriterDep,
                    services: ServicesDep) -> ModelInfo:
    """Point an alias (e.g. ``production``) at a version; predict uses ``production`` by default."""
    return await asyncio.to_thread(
        services.registry.set_alias, principal.tenant, name, alias, body.version
    )


@router.patch("/{name}/versions/{version}", response_model=VersionInfo)
async def update_version(name: str, version: int, body: VersionUpdate, principal: WriterDep,
                         services: ServicesDep) -> VersionInfo:
    """Versions are immutable; only how they are served changes: ``preload``, batching, device,
    precision (int8 is built and measured first, and refused over ``max_accuracy_delta``)."""
    changes = body.model_dump(exclude_unset=True)
    preload = changes.pop("preload", None)
    if preload is None and not changes:
        raise Invalid("nothing to change: give preload or a serving option", details={"field": "body"})
    if changes:
        info = await services.tuner.configure(principal, name, version, changes)
    if preload is not None:
        info = await asyncio.to_thread(
            services.registry.set_preload, principal.tenant, name, version, preload
        )
    return info


@router.delete("/{name}/versions/{version}", status_code=204)
async def delete_version(name: str, version: int, principal: WriterDep,
                         services: ServicesDep) -> Response:
    """Refused with 409 while an alias points at the version."""
    await asyncio.to_thread(services.registry.delete_version, principal.tenant, name, version)
    await services.placement.release((principal.tenant, name, version))
    return Response(status_code=204)


@router.delete("/{name}", status_code=204)
async def delete_model(name: str, principal: WriterDep, services: ServicesDep) -> Response:
    info = await asyncio.to_thread(services.registry.get_model, principal.tenant, name)
    await asyncio.to_thread(services.registry.delete_model, principal.tenant, name)
    for version in info.versions:
        await services.placement.release(version.key)
    return Response(status_code=204)
