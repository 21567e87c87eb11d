"""Changing how a version is served (``PATCH /api/v1/models/{name}/versions/{v}``): batching,
device, precision. Every option is checked before anything is stored (a GPU that is not there,
fp16 on the CPU, int8 for a model with no int8 build, an int8 build over the caller's accuracy
bound are all ``Invalid``); an accepted change reloads the version on its next call (on a
cluster, its replicas are updated in place: see ``Placement.reconfigure``). A change to nothing
changes nothing.

int8 is built and measured here, when it is asked for, so the measured delta is stored on the
version (``serving.builds.int8``) and shown before any request is served with it. What the delta
measures depends on the kind (``INT8_FORMATS``): for embeddings 1 - the lowest cosine to fp32,
for text classifiers the share of check texts whose top label changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from aiaas.audit import AuditLog, changed
from aiaas.auth.principal import BUILTIN_TENANT, Principal, Scope
from aiaas.config import Settings
from aiaas.errors import Forbidden, Invalid
from aiaas.formats import builds_named
from aiaas.registry.service import Registry, VersionInfo
from aiaas.registry.serving import ServingOptions
from aiaas.runtime import devices, sealed_compile
from aiaas.runtime.placement import Placement

CLASSIFIER = ("transformers", "text-classification")
INT8_FORMATS = builds_named("int8")
"""(format, task) of the versions with an int8 build -> what to call them in messages (the
table of formats says which have one)."""


class ServingTuner:
    def __init__(self, settings: Settings, registry: Registry, placement: Placement, *,
                 audit: AuditLog | None = None) -> None:
        self.settings, self.registry, self.placement = settings, registry, placement
        self.audit = audit

    async def update(self, principal: Principal, name: str, version: int,
                     changes: dict[str, Any]) -> VersionInfo:
        """``PATCH .../versions/{v}``: ``preload`` and the serving options in ``changes``;
        ``Invalid`` when it names nothing to change. One audit record of the fields changed."""
        principal.require(Scope.MODELS_WRITE)
        options = dict(changes)
        preload = options.pop("preload", None)
        if preload is None and not options:
            raise Invalid("nothing to change: give preload or a serving option",
                          details={"field": "body"})
        old = await asyncio.to_thread(self.registry.resolve, principal.tenant, name, version)
        if options:
            info = await self.configure(principal, name, version, options)
        if preload is not None:
            info = await asyncio.to_thread(self.registry.set_preload, principal, name, version,
                                           preload)
        before, after = changed({"preload": old.preload, **old.serving},
                                {"preload": info.preload, **info.serving})
        if self.audit is not None and after:
            await asyncio.to_thread(self.audit.record, principal, "serving.update", "version",
                                    info.ref, before, after, target_tenant=info.tenant)
        return info

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
        stored = options.model_dump(exclude_defaults=True)
        if stored == ServingOptions.of(info.serving).model_dump(exclude_defaults=True):
            return info
        updated = await asyncio.to_thread(self.registry.set_serving, owner, name, version, stored)
        try:
            await self.placement.reconfigure(updated)
        except Invalid:
            await asyncio.to_thread(self.registry.set_serving, owner, name, version, info.serving)
            raise
        return updated

    @staticmethod
    def _merge(info: VersionInfo, changes: dict[str, Any]) -> ServingOptions:
        stored = dict(info.serving)
        for one, other in (("replicas", "autoscaling"), ("autoscaling", "replicas")):
            if changes.get(one) is not None:
                stored.pop(other, None)
        try:
            return ServingOptions.model_validate({**stored, **changes})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "serving"
            raise Invalid(f"{where}: {first['msg']}", details={"field": where}) from exc

    def _int8(self, info: VersionInfo, options: ServingOptions) -> ServingOptions:
        from aiaas.runtime.compile import quantize, quantize_classifier

        kind = (info.format, info.task)
        if kind not in INT8_FORMATS:
            raise Invalid(f"int8 builds exist for {' and '.join(INT8_FORMATS.values())}; "
                          f"{info.model!r} is {info.format} ({info.task})",
                          details={"field": "precision"})
        classifier = kind == CLASSIFIER
        means = quantize_classifier.DELTA_MEANS if classifier else quantize.DELTA_MEANS
        bound = options.max_accuracy_delta
        if bound is None:
            raise Invalid(f"int8 needs max_accuracy_delta, the largest accuracy loss you accept "
                          f"from 0 to 1: for {INT8_FORMATS[kind]}, {means}",
                          details={"field": "max_accuracy_delta"})
        if classifier and devices.resolve(options.device) != "cpu":
            raise Invalid("int8 text classifiers run on ONNX Runtime on the CPU; set device cpu",
                          details={"field": "device"})
        root = sealed_compile.compile_root(self.registry.vault, info.tenant,
                                           self.settings.compiled_dir)
        source = self.registry.artifact_path(info)
        threads = self.settings.torch_threads
        try:
            built = (quantize_classifier.compiled(root, info.sha256, source, threads=threads,
                                                  multi_label=bool(info.config.get("multi_label")))
                     if classifier else quantize.compiled(root, info.sha256, source, threads=threads))
        except Exception as exc:  # an export that crashes on this model: a 422 naming why, not a 500
            raise Invalid(f"no int8 build for {info.model!r}: the ONNX export or quantisation "
                          f"failed: {type(exc).__name__}: {exc}",
                          details={"field": "precision"}) from exc
        if not built.ok:
            raise Invalid(f"no int8 build for {info.model!r}: {built.reason}",
                          details={"field": "precision", "measured": built.report})
        delta = float(built.report["delta"])
        if delta > bound:
            raise Invalid(f"int8 costs {delta:.4f} ({means}; {built.report['samples']} texts), "
                          f"over your max_accuracy_delta {bound:g}; nothing changed",
                          details={"field": "max_accuracy_delta", "measured": built.report})
        builds = {**options.builds, "int8": built.report}
        return options.model_copy(update={"builds": builds})
