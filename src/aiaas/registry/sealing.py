"""Where a version's files live in the artifact store, plain or sealed.

A built-in model (and every model when encryption at rest is off) is stored plain under its
content digest, shared by identical uploads. A sealed tenant's model is stored under
``sealed_digest(tenant, digest)``: its files sealed with the tenant's key, so two tenants
uploading the same files get one sealed copy each, and the version row still carries the
digest of the plaintext (what users compare). Serving reads a sealed artifact through a working
copy in memory-backed space (``path``), released when its replica unloads.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from aiaas.crypto.vault import UNSEALED_TENANTS, Vault
from aiaas.db.tables import Model, ModelVersion
from aiaas.errors import StoredDataCorrupt
from aiaas.registry.records import VersionInfo
from aiaas.registry.store import ArtifactStore, directory_digest, remove_tree

PURPOSE = "artifact"


def sealed_digest(tenant: str, digest: str) -> str:
    """The store name of ``tenant``'s sealed copy of the artifact with plaintext ``digest``."""
    return hashlib.sha256(f"sealed\0{tenant}\0{digest}".encode()).hexdigest()


class StoredArtifacts:
    def __init__(self, store: ArtifactStore, vault: Vault) -> None:
        self.store = store
        self.vault = vault

    def put(self, source: Path, *, tenant: str, move: bool, known: tuple[str, int] | None
            ) -> tuple[str, int, str]:
        """Store ``source`` for ``tenant``: (plaintext digest, size, name in the store)."""
        if not self.vault.seals(tenant):
            if move:
                digest, size = self.store.put_staged(source, known=known)
            else:
                digest, size = self.store.put_copy(source)
            return digest, size, digest
        digest, size = known or directory_digest(source)
        stored = sealed_digest(tenant, digest)
        with self.store.staging() as staged:
            self.vault.seal_tree(source, staged, tenant, PURPOSE)
            self.store.put_staged(staged, known=(stored, size))
        return digest, size, stored

    @contextlib.contextmanager
    def staging(self, tenant: str) -> Iterator[Path]:
        if not self.vault.seals(tenant):
            with self.store.staging() as staged:
                yield staged
            return
        staged = self.vault.private_dir("stage")
        try:
            yield staged
        finally:
            remove_tree(staged)

    def stored_name(self, version: VersionInfo) -> str:
        """The version's directory in the store: the sealed copy, else (data stored before
        encryption was turned on, not yet migrated) the plain one."""
        if self.vault.sealer is not None and version.tenant not in UNSEALED_TENANTS:
            sealed = sealed_digest(version.tenant, version.sha256)
            if self.store.path_of(sealed).is_dir():
                return sealed
            if not self.vault.plain_allowed and self.store.path_of(version.sha256).is_dir():
                raise StoredDataCorrupt(f"the files of {version.model}:{version.version} are "
                                        "missing or not sealed where sealed ones belong; "
                                        "restore them from a backup")
        return version.sha256

    def path(self, version: VersionInfo, *, defer_weights: bool = False) -> Path:
        """A directory a framework can load ``version`` from (``Vault.checkout``)."""
        stored = self.stored_name(version)
        path = self.store.open(stored)
        if stored == version.sha256:
            return path
        return self.vault.checkout(path, version.tenant, PURPOSE, defer_weights=defer_weights)

    def release(self, version: VersionInfo) -> None:
        """Drop ``version``'s working copy (its replica unloaded); a no-op for plain ones."""
        if self.vault.sealer is not None:
            self.vault.release(self.store.path_of(sealed_digest(version.tenant, version.sha256)))

    @staticmethod
    def candidates(tenant: str, digest: str) -> list[str]:
        """Every store name a version of ``tenant`` with ``digest`` may use."""
        return [digest, sealed_digest(tenant, digest)]

    @staticmethod
    def in_use(session: Session, names: list[str]) -> set[str]:
        """Which of ``names`` (store names) some version still uses, plain or sealed."""
        wanted = set(names)
        used: set[str] = set()
        rows = session.execute(select(Model.tenant, ModelVersion.sha256)
                               .join(Model, ModelVersion.model_id == Model.id).distinct())
        for tenant, digest in rows:
            used.update(name for name in (digest, sealed_digest(tenant, digest))
                        if name in wanted)
        return used
