"""The model registry: names, immutable versions, movable aliases, per tenant.

A tenant sees the built-in models and its own. Another tenant's model is reported exactly as a
model that does not exist, so names never leak across tenants.

The methods a caller with a key reaches (listing, showing, aliases, preload, deletes) take its
``Principal`` and check the scope first. ``register``, ``resolve`` and ``cached`` take a tenant:
their callers check for themselves (uploads, the serving tuner, the front door's admission
checks) or act as the system (built-in registration, training, placement).

``resolve`` remembers its answer for ``cache_s`` seconds (``cached`` reads it without the
database, for the predict path). Every change made through this registry forgets all answers at
once; a change made by another process (the training worker, the CLI) is seen within ``cache_s``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aiaas.audit import AuditLog
from aiaas.auth.principal import BUILTIN_TENANT, Principal, Scope
from aiaas.crypto.vault import Vault
from aiaas.db.engine import Database
from aiaas.db.tables import Model, ModelAlias, ModelVersion
from aiaas.errors import Conflict, Forbidden, Invalid, NotFound
from aiaas.formats import Detected, detect
from aiaas.registry.load_check import LoadCheck
from aiaas.registry.records import (
    ALIAS_PATTERN,
    MAX_VERSION_DIGITS,
    NAME_PATTERN,
    PRODUCTION,
    ModelInfo,
    VersionInfo,
    validate_name,
)
from aiaas.registry.sealing import StoredArtifacts
from aiaas.registry.store import ArtifactStore, directory_digest, remove_tree
from aiaas.registry.versions import PendingVersion, insert_version
from aiaas.tasks import get_task

log = logging.getLogger("aiaas.registry")
__all__ = ["ModelInfo", "Registry", "VersionInfo", "validate_name"]


CACHE_LIMIT = 10_000
Ref = str | int | None


class Registry:
    def __init__(self, db: Database, store: ArtifactStore, *, cache_s: float = 0.0,
                 audit: AuditLog | None = None, vault: Vault | None = None) -> None:
        self.db = db
        self.audit = audit
        """Told of every version registered by an ``actor``, alias moved and deletion."""
        self.store = store
        self.vault = vault or Vault.off()
        self.artifacts = StoredArtifacts(store, self.vault)
        self.cache_s = cache_s
        self._resolved: dict[tuple[str, str, Ref], tuple[VersionInfo, float]] = {}
        self._generation = 0
        # Held while an artifact is stored and its row inserted, and while an unused artifact is
        # collected: a collection never removes an artifact a registration is about to record.
        self._artifacts = threading.Lock()

    def _find(self, session: Session, tenant: str, name: str) -> Model:
        """Own model first, then a built-in one; anything else is NotFound."""
        if NAME_PATTERN.match(name):
            for owner in (tenant, BUILTIN_TENANT):
                model = session.scalar(
                    select(Model).where(Model.tenant == owner, Model.name == name)
                )
                if model is not None:
                    return model
        raise NotFound(f"model {name!r} not found", details={"model": name})

    def register(
        self,
        source: Path,
        *,
        tenant: str,
        name: str,
        created_by: str,
        task: str | None = None,
        description: str | None = None,
        metrics: dict[str, float] | None = None,
        preload: bool = False,
        move: bool = False,
        promote_first: bool = True,
        check: LoadCheck | None = None,
        actor: Principal | None = None,
    ) -> VersionInfo:
        """Check, store and record a model directory as the next version of ``name``.

        The first version of a model gets the ``production`` alias unless ``promote_first`` is
        False (a training job with a deploy gate that decides for itself).

        ``move=True`` hands over a staging directory that already lies in the data dir: it is
        moved into the store, or removed when the registration fails. Whatever fails, no
        artifact is left in the store without a version that uses it. ``check`` (uploads) is
        called with the detected directory before anything is stored. ``actor`` (an upload's
        key, a training job's system principal) is recorded in the audit log; None records none.
        """
        try:
            return self._register(source, tenant=tenant, name=name, created_by=created_by,
                                  task=task, description=description, metrics=metrics,
                                  preload=preload, move=move, promote_first=promote_first,
                                  check=check, actor=actor)
        finally:
            if move:
                remove_tree(source)

    def _register(self, source: Path, *, tenant: str, name: str, created_by: str,
                  task: str | None, description: str | None, metrics: dict[str, float] | None,
                  preload: bool, move: bool, promote_first: bool, check: LoadCheck | None,
                  actor: Principal | None) -> VersionInfo:
        validate_name(name)
        if description is not None and "\x00" in description:
            raise Invalid("description must not contain NUL characters",
                          details={"field": "description"})
        if metrics and not all(math.isfinite(value) for value in metrics.values()):
            raise Invalid("metrics must be finite numbers", details={"field": "metrics"})
        detected = detect(source)
        chosen_task = self._choose_task(detected, task)
        spec = get_task(chosen_task)
        config = spec.prepare_config(detected, source)
        if check is not None:
            check(source, detected.format, chosen_task, config)
        known = directory_digest(source) if move else None
        with self._artifacts:
            digest, size, stored = self.artifacts.put(source, tenant=tenant, move=move,
                                                      known=known)
            pending = PendingVersion(
                tenant=tenant, name=name, task=chosen_task, detected=detected, digest=digest,
                size=size, config=config, created_by=created_by, description=description,
                metrics={**detected.manifest.metrics, **(metrics or {})}, preload=preload,
                promote_first=promote_first,
            )
            try:
                return self._record(pending, actor)
            except BaseException:
                try:
                    self._collect_locked(stored)
                except Exception:
                    log.exception("could not collect artifact %s after a failed registration",
                                  stored)
                raise

    def _record(self, pending: PendingVersion, actor: Principal | None) -> VersionInfo:
        for _attempt in range(3):
            try:
                with self.db.session() as session:
                    version = insert_version(session, pending)
                    if actor is not None and self.audit is not None:
                        self.audit.record(actor, "model.register", "version", version.ref,
                                          after=version.audited(), target_tenant=version.tenant,
                                          session=session)
                self._changed()
                return version
            except IntegrityError:
                continue
        raise Conflict(f"model {pending.name!r} is being changed by another request; try again")

    @staticmethod
    def _choose_task(detected: Detected, task: str | None) -> str:
        chosen = task or detected.manifest.task or detected.tasks[0]
        get_task(chosen)
        if chosen not in detected.tasks:
            raise Invalid(
                f"a {detected.format} model cannot serve task {chosen!r}; "
                f"it serves: {', '.join(detected.tasks)}",
                details={"field": "task"},
            )
        return chosen

    def list_models(self, principal: Principal) -> list[ModelInfo]:
        """Built-in models and the caller's tenant's own (``models:read``)."""
        principal.require(Scope.MODELS_READ)
        owners = [principal.tenant, BUILTIN_TENANT]
        with self.db.session() as session:
            rows = session.scalars(
                select(Model).where(Model.tenant.in_(owners)).order_by(Model.name)
            )
            return [ModelInfo.of(model) for model in rows]

    def model_names_by_tenant(self, principal: Principal,
                              tenant: str | None = None) -> dict[str, list[str]]:
        """Every tenant's own model names (or ``tenant``'s), for an operator's tenant pages
        (admin only: other keys see their own tenant's through ``list_models``)."""
        principal.require(Scope.ADMIN)
        query = select(Model.tenant, Model.name).where(Model.tenant != BUILTIN_TENANT)
        if tenant is not None:
            query = query.where(Model.tenant == tenant)
        names: dict[str, list[str]] = {}
        with self.db.session() as session:
            for owner, name in session.execute(query.order_by(Model.name)):
                names.setdefault(owner, []).append(name)
        return names

    def get_model(self, principal: Principal, name: str) -> ModelInfo:
        """One model with its versions and aliases (``models:read``)."""
        principal.require(Scope.MODELS_READ)
        return self._model(principal.tenant, name)

    def get_version(self, principal: Principal, name: str, ref: Ref = None) -> VersionInfo:
        """One version, as ``resolve`` finds it (``models:read``)."""
        principal.require(Scope.MODELS_READ)
        return self.resolve(principal.tenant, name, ref)

    def lookup(self, principal: Principal, name: str, ref: Ref = None
               ) -> tuple[ModelInfo, VersionInfo]:
        """A model and one version, for what a client reads before it calls the model (V2
        metadata and readiness): ``models:read`` or ``predict``."""
        principal.require_any(Scope.MODELS_READ, Scope.PREDICT)
        return self._model(principal.tenant, name), self.resolve(principal.tenant, name, ref)

    def _model(self, tenant: str, name: str) -> ModelInfo:
        with self.db.session() as session:
            return ModelInfo.of(self._find(session, tenant, name))

    def cached(self, tenant: str, name: str, ref: Ref = None) -> VersionInfo | None:
        """What ``resolve`` answered less than ``cache_s`` ago, else None."""
        entry = self._resolved.get((tenant, name, ref)) if self.cache_s else None
        if entry is None or time.monotonic() - entry[1] > self.cache_s:
            return None
        return entry[0]

    def _changed(self) -> None:
        self._generation += 1
        self._resolved.clear()

    def resolve(self, tenant: str, name: str, ref: Ref = None) -> VersionInfo:
        """Find one version: by number, by alias, or (no ref) ``production`` else the latest."""
        generation = self._generation
        with self.db.session() as session:
            model = self._find(session, tenant, name)
            number = self._version_number(model, ref)
            row = next((row for row in model.versions if row.version == number), None)
            if row is None:
                raise NotFound(f"model {name!r} has no version {ref}", details={"version": ref})
            version = VersionInfo.of(row, model)
        if self.cache_s and generation == self._generation:
            if len(self._resolved) >= CACHE_LIMIT:
                self._resolved.clear()
            self._resolved[(tenant, name, ref)] = (version, time.monotonic())
        return version

    @staticmethod
    def _version_number(model: Model, ref: str | int | None) -> int:
        aliases = {a.alias: a.version for a in model.aliases}
        if ref is None:
            if PRODUCTION in aliases:
                return aliases[PRODUCTION]
            if not model.versions:
                raise NotFound(f"model {model.name!r} has no versions")
            return model.versions[-1].version
        if isinstance(ref, int):
            return ref
        # ASCII digits only ("²".isdigit() is true) and a bounded length (int() refuses 4300+).
        if ref.isascii() and ref.isdigit():
            if len(ref) > MAX_VERSION_DIGITS:
                raise NotFound(f"model {model.name!r} has no version {ref}")
            return int(ref)
        if ref == "latest" and model.versions:
            return model.versions[-1].version
        if ref in aliases:
            return aliases[ref]
        raise NotFound(f"model {model.name!r} has no version or alias {ref!r}")

    def _own(self, session: Session, tenant: str, name: str) -> Model:
        model = self._find(session, tenant, name)
        if model.builtin and tenant != BUILTIN_TENANT:
            raise Forbidden(f"{name!r} is a built-in model and cannot be changed")
        return model

    def set_alias(self, principal: Principal, name: str, alias: str, version: int) -> ModelInfo:
        """Point ``alias`` at ``version`` (``models:write``; not of a built-in model)."""
        principal.require(Scope.MODELS_WRITE)
        tenant = principal.tenant
        if not ALIAS_PATTERN.match(alias) or alias == "latest":
            raise Invalid(f"invalid alias {alias!r}", details={"field": "alias"})
        for _attempt in range(3):
            try:
                with self.db.session() as session:
                    model = self._own(session, tenant, name)
                    if version not in {v.version for v in model.versions}:
                        raise NotFound(f"model {name!r} has no version {version}")
                    current = next((a for a in model.aliases if a.alias == alias), None)
                    before = None if current is None else current.version
                    if current is None:
                        model.aliases.append(ModelAlias(alias=alias, version=version))
                    else:
                        current.version = version
                    session.flush()
                    if self.audit is not None and before != version:
                        self.audit.record(principal, "alias.move", "alias", f"{name}:{alias}",
                                          {"version": before}, {"version": version},
                                          target_tenant=model.tenant, session=session)
                    info = ModelInfo.of(model)
            except IntegrityError:  # another request created the alias first: now an update
                continue
            self._changed()
            return info
        raise Conflict(f"alias {alias!r} of {name!r} is being changed by another request; "
                       "try again")

    def set_preload(self, principal: Principal, name: str, version: int,
                    preload: bool) -> VersionInfo:
        """Mark a version to be loaded when the server starts (it still loads on first use;
        ``models:write``)."""
        principal.require(Scope.MODELS_WRITE)
        return self._change_version(principal.tenant, name, version, preload=preload)

    def set_serving(self, tenant: str, name: str, version: int, serving: dict[str, Any]) -> VersionInfo:
        """Replace a version's serving options (checked, scope included, by the runtime's
        ``ServingTuner``)."""
        return self._change_version(tenant, name, version, serving=serving)

    def _change_version(self, tenant: str, name: str, version: int, **values: Any) -> VersionInfo:
        """Set the mutable columns of one version (``preload``, ``serving``) and forget answers."""
        with self.db.session() as session:
            model = self._own(session, tenant, name)
            row = next((v for v in model.versions if v.version == version), None)
            if row is None:
                raise NotFound(f"model {name!r} has no version {version}")
            for column, value in values.items():
                setattr(row, column, value)
            session.flush()
            info = VersionInfo.of(row, model)
        self._changed()
        return info

    def preloaded(self) -> list[VersionInfo]:
        """Every version marked preload, of any tenant (for the placement to start at boot)."""
        with self.db.session() as session:
            rows = session.scalars(select(ModelVersion).where(ModelVersion.preload.is_(True)))
            return [VersionInfo.of(row, row.model) for row in rows]

    def delete_version(self, principal: Principal, name: str, version: int) -> None:
        """Delete one version (``models:write``); ``Conflict`` while an alias points at it."""
        principal.require(Scope.MODELS_WRITE)
        with self.db.session() as session:
            model = self._own(session, principal.tenant, name)
            row = next((v for v in model.versions if v.version == version), None)
            if row is None:
                raise NotFound(f"model {name!r} has no version {version}")
            holding = sorted(a.alias for a in model.aliases if a.version == version)
            if holding:
                raise Conflict(
                    f"version {version} of {name!r} is in use by alias(es) {', '.join(holding)}; "
                    "move the alias to another version first",
                    details={"aliases": holding},
                )
            digest, gone = row.sha256, VersionInfo.of(row, model)
            model.versions.remove(row)
            session.flush()
            if not model.versions:
                session.delete(model)
            if self.audit is not None:
                self.audit.record(principal, "version.delete", "version", gone.ref,
                                  before=gone.audited(), target_tenant=gone.tenant, session=session)
        self._changed()
        self._collect(principal.tenant, digest)

    def delete_model(self, principal: Principal, name: str) -> ModelInfo:
        """Delete a model and all its versions (``models:write``); what was deleted."""
        principal.require(Scope.MODELS_WRITE)
        with self.db.session() as session:
            model = self._own(session, principal.tenant, name)
            deleted = ModelInfo.of(model)
            digests = {v.sha256 for v in model.versions}
            session.delete(model)
            if self.audit is not None:
                self.audit.record(principal, "model.delete", "model", name, before={
                    "task": deleted.task, "versions": [v.version for v in deleted.versions],
                    "aliases": deleted.aliases}, target_tenant=deleted.tenant, session=session)
        self._changed()
        for digest in digests:
            self._collect(principal.tenant, digest)
        return deleted

    def _collect(self, tenant: str, digest: str) -> None:
        with self._artifacts:
            for stored in self.artifacts.candidates(tenant, digest):
                self._collect_locked(stored)

    def collect_orphan(self, digest: str, cutoff: float) -> bool:
        """Remove an artifact that no version uses and no registration touched since ``cutoff``
        (``hygiene``'s sweep); True when removed."""
        with self._artifacts:
            return self.store.untouched_since(digest, cutoff) and self._collect_locked(digest)

    def _collect_locked(self, digest: str) -> bool:
        """Remove an artifact (a store name, plain or sealed) no version uses any more (the
        caller holds ``_artifacts``)."""
        with self.db.session() as session:
            still_used = bool(self.artifacts.in_use(session, [digest]))
        if not still_used:
            self.store.remove(digest)
        return not still_used

    def artifact_path(self, version: VersionInfo, *, defer_weights: bool = False) -> Path:
        """A directory the version's files can be loaded from: the store's own, or for a
        sealed tenant a decrypted working copy in memory (``release_artifact`` drops it).
        ``defer_weights``: large weight files only once ``crypto.checkouts.materialize``
        asks (an engine that may not read them)."""
        return self.artifacts.path(version, defer_weights=defer_weights)

    def release_artifact(self, version: VersionInfo) -> None:
        self.artifacts.release(version)

    def staging(self, tenant: str) -> contextlib.AbstractContextManager[Path]:
        """Where a model directory for ``tenant`` is built (an upload's extraction, a training
        job's output) before ``register(move=True)``: the store's staging, or for a sealed
        tenant a private dir in memory-backed space, so its plaintext never reaches the disk."""
        return self.artifacts.staging(tenant)

    def discard(self, staged: Path) -> None:
        remove_tree(staged)
