"""Changing how a version is served (``PATCH /api/v1/models/{name}/versions/{v}``): batching,
device, precision. Every option is checked before anything is stored (a GPU that is not there,
fp16 on the CPU, int8 for a model with no int8 build, an int8 build over the caller's accuracy
bound are all ``Invalid``); an accepted change reloads the version on its next call.

int8 is built and measured here, when it is asked for, so the measured delta is stored on the
version (``serving.builds.int8``) and shown before any request is served with it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from aiaas.auth.principal import BUILTIN_TENANT, Principal, Scope
from aiaas.config import Settings
from aiaas.errors import Forbidden, Invalid
from aiaas.registry.service import Registry, VersionInfo
from aiaas.registry.serving import ServingOptions
from aiaas.runtime import devices
from aiaas.runtime.manager import RuntimeManager

INT8_FORMATS = ("sentence-transformers",)


class ServingTuner:
    def __init__(self, settings: Settings, registry: Registry, runtime: RuntimeManager) -> None:
        self.settings, self.registry, self.runtime = settings, registry, runtime

    async def configure(self, principal: Principal, name: str, version: int,
                        changes: dict[str, Any]) -> VersionInfo:
        principal.require(Scope.MODELS_WRITE)
        info = await asyncio.to_thread(self.registry.resolve, principal.tenant, name, version)
        owner = info.tenant
        if owner == BUILTIN_TENANT and not principal.allows(Scope.ADMIN):
            raise Forbidden(f"{name!r} is a built-in model: only an admin key changes how it is "
                            "served")
        if "builds" in changes:
            raise Invalid("serving.builds is measured by the server, not set",
                          details={"field": "builds"})
        options = self._merge(info, changes)
        device = devices.resolve(options.device)
        if options.precision in ("fp16", "bf16") and device == "cpu":
            raise Invalid(f"{options.precision} needs a GPU device; this version runs on the CPU",
                          details={"field": "precision"})
        if options.precision == "int8":
            options = await asyncio.to_thread(self._int8, info, options)
        updated = await asyncio.to_thread(self.registry.set_serving, owner, name, version,
                                          options.model_dump(exclude_defaults=True))
        await self.runtime.unload(info.key)
        return updated

    @staticmethod
    def _merge(info: VersionInfo, changes: dict[str, Any]) -> ServingOptions:
        try:
            return ServingOptions.model_validate({**info.serving, **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "serving"
            raise Invalid(f"{where}: {first['msg']}", details={"field": where}) from exc

    def _int8(self, info: VersionInfo, options: ServingOptions) -> ServingOptions:
        from aiaas.runtime.compile import quantize

        if info.format not in INT8_FORMATS:
            raise Invalid(f"int8 builds exist for {', '.join(INT8_FORMATS)} models; "
                          f"{info.model!r} is {info.format}", details={"field": "precision"})
        bound = options.max_accuracy_delta
        if bound is None:
            raise Invalid("int8 needs max_accuracy_delta: the largest accuracy loss you accept "
                          "(for embeddings, 1 - the lowest cosine to fp32 on the check set)",
                          details={"field": "max_accuracy_delta"})
        built = quantize.compiled(self.settings.compiled_dir, info.sha256,
                                  self.registry.artifact_path(info),
                                  threads=self.settings.torch_threads)
        if not built.ok:
            raise Invalid(f"no int8 build: {built.reason}", details={"field": "precision"})
        delta = float(built.report["delta"])
        if delta > bound:
            raise Invalid(f"int8 costs {delta:.4f} (1 - lowest cosine to fp32 over "
                          f"{built.report['samples']} check texts), over your max_accuracy_delta "
                          f"{bound:g}; nothing changed", details={"field": "max_accuracy_delta",
                                                                  "measured": built.report})
        builds = {**options.builds, "int8": built.report}
        return options.model_copy(update={"builds": builds})
