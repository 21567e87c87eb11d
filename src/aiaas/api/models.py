"""Registry routes: list, show, upload a version, move an alias, delete."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from aiaas.api.deps import ReaderDep, ServicesDep, WriterDep
from aiaas.api.schemas import ERRORS, AliasUpdate, ModelList, ModelOut, VersionOut, VersionUpdate
from aiaas.errors import Invalid
from aiaas.registry import archive
from aiaas.registry.service import ModelInfo, VersionInfo

router = APIRouter(prefix="/api/v1/models", tags=["models"], responses=ERRORS)


def model_out(info: ModelInfo) -> ModelOut:
    return ModelOut(**{**asdict(info), "versions": [version_out(v) for v in info.versions]},
                    latest_version=info.latest_version)


def version_out(info: VersionInfo) -> VersionOut:
    return VersionOut.model_validate(asdict(info), from_attributes=False)


@router.get("", response_model=ModelList)
async def list_models(principal: ReaderDep, services: ServicesDep) -> ModelList:
    """Built-in models and the caller's tenant's own."""
    models = await asyncio.to_thread(services.registry.list_models, principal.tenant)
    return ModelList(models=[model_out(m) for m in models])


@router.get("/{name}", response_model=ModelOut)
async def show_model(name: str, principal: ReaderDep, services: ServicesDep) -> ModelOut:
    return model_out(await asyncio.to_thread(services.registry.get_model, principal.tenant, name))


@router.get("/{name}/versions/{ref}", response_model=VersionOut)
async def show_version(name: str, ref: str, principal: ReaderDep,
                       services: ServicesDep) -> VersionOut:
    """A version by number, or by alias (``production``, ``latest``)."""
    info = await asyncio.to_thread(services.registry.resolve, principal.tenant, name, ref)
    return version_out(info)


@router.post("/{name}/versions", response_model=VersionOut, status_code=201, openapi_extra={
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
) -> VersionOut:
    """Stream an archive to disk (size-limited), unpack it safely and register the next version."""
    settings = services.settings
    staging = services.registry.store.staging_dir()
    try:
        upload = staging / "upload"
        await archive.receive(request.stream(), upload, limit=settings.max_upload_bytes)
        info = await asyncio.to_thread(
            _register_archive, services, upload, staging / "tree", name=name,
            tenant=principal.tenant, created_by=principal.key_id, task=task,
            description=description,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return version_out(info)


def _register_archive(services: ServicesDep, upload: Path, tree: Path, **fields: str | None
                      ) -> VersionInfo:
    tree.mkdir()
    archive.extract(upload, tree, max_bytes=services.settings.max_upload_bytes * 4)
    upload.unlink()
    entries = list(tree.iterdir())
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else tree
    return services.registry.register(
        root, tenant=str(fields["tenant"]), name=str(fields["name"]),
        created_by=str(fields["created_by"]), task=fields["task"],
        description=fields["description"], move=True,
    )


@router.put("/{name}/aliases/{alias}", response_model=ModelOut)
async def set_alias(name: str, alias: str, body: AliasUpdate, principal: WriterDep,
                    services: ServicesDep) -> ModelOut:
    """Point an alias (e.g. ``production``) at a version; predict uses ``production`` by default."""
    info = await asyncio.to_thread(
        services.registry.set_alias, principal.tenant, name, alias, body.version
    )
    return model_out(info)


@router.patch("/{name}/versions/{version}", response_model=VersionOut)
async def update_version(name: str, version: int, body: VersionUpdate, principal: WriterDep,
                         services: ServicesDep) -> VersionOut:
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
    return version_out(info)


@router.delete("/{name}/versions/{version}", status_code=204)
async def delete_version(name: str, version: int, principal: WriterDep,
                         services: ServicesDep) -> Response:
    """Refused with 409 while an alias points at the version."""
    await asyncio.to_thread(services.registry.delete_version, principal.tenant, name, version)
    await services.runtime.unload((principal.tenant, name, version))
    return Response(status_code=204)


@router.delete("/{name}", status_code=204)
async def delete_model(name: str, principal: WriterDep, services: ServicesDep) -> Response:
    info = await asyncio.to_thread(services.registry.get_model, principal.tenant, name)
    await asyncio.to_thread(services.registry.delete_model, principal.tenant, name)
    for version in info.versions:
        await services.runtime.unload(version.key)
    return Response(status_code=204)
