"""Encryption at rest for one data dir, as the services use it.

``Vault.open(settings, db)`` loads the master key (creating the default one on a first start),
checks it against the stored tenant keys and sets up the memory-backed workspace: any problem
is ``KeyProblem`` before anything else starts. With ``AIAAS_ENCRYPT_AT_REST=false`` it is
``Vault.off()`` and every tenant file is written plain, as before.

What is sealed: a tenant's files (datasets, model artifacts, job plots, evaluation plots).
Built-in models are not (their weights are public and installed as packages). Frameworks that
need files get working copies (``checkout``): decrypted into the workspace, shared by everyone
who checks out the same stored tree, removed by ``release`` (a replica's unload) or at exit.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from aiaas.crypto import master
from aiaas.crypto.checkouts import Checkouts
from aiaas.crypto.keyring import Keyring
from aiaas.crypto.sealed import Sealer
from aiaas.crypto.workspace import Workspace
from aiaas.db.crypto_tables import TenantKey, VaultState
from aiaas.db.engine import Database
from aiaas.db.tables import Model, utcnow
from aiaas.db.training_tables import DatasetRow

UNSEALED_TENANTS = frozenset({"builtin"})


@dataclass
class Vault:
    sealer: Sealer | None = None
    workspace: Workspace | None = None
    seal_new: bool = True
    """False: encryption was turned off on a data dir that holds sealed files; they still
    open, new files are written plain."""
    plain_allowed: bool = True
    """Whether a tenant file may be plain (``VaultState``): False on a data dir sealed from its
    first start or migrated since, where a plain file in a sealed one's place is refused."""
    _copies: Checkouts | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def off(cls) -> Vault:
        return cls()

    @classmethod
    def open(cls, db: Database, *, key_file: Path | None, key_text: str | None,
             workspace_dir: Path | None, seal_new: bool = True) -> Vault:
        """The vault of a data dir. With ``seal_new`` False (encryption turned off) it opens
        only when sealed data exists (``off()`` otherwise), to keep reading it."""
        with db.session() as session:
            stored = session.scalar(select(func.count()).select_from(TenantKey)) or 0
        if not seal_new and stored == 0:
            return cls.off()
        key = master.load(key_file, key_text, may_create=stored == 0)
        keyring = Keyring(db, key)
        keyring.check()
        return cls(Sealer(keyring), Workspace(workspace_dir), seal_new,
                   _plain_allowed(db, seal_new))

    def all_sealed(self, db: Database) -> None:
        """Record that every tenant file is sealed now (``aiaas crypto migrate`` finished):
        from here on a plain file where a sealed one belongs is refused."""
        with db.session() as session:
            session.merge(VaultState(id=1, plain_allowed=False, updated_at=utcnow()))
        self.plain_allowed = False

    def seals(self, tenant: str) -> bool:
        """Whether new files of ``tenant`` are sealed."""
        return self.sealer is not None and self.seal_new and tenant not in UNSEALED_TENANTS

    def _sealer(self) -> Sealer:
        assert self.sealer is not None, "encryption at rest is off"
        return self.sealer

    def _workspace(self) -> Workspace:
        assert self.workspace is not None, "encryption at rest is off"
        return self.workspace

    def open_file(self, path: Path, tenant: str, purpose: str) -> BinaryIO:
        """A stored file's plaintext: decrypted when it is sealed, else read as it is."""
        if self.sealer is None:
            return path.open("rb")
        return self.sealer.open(path, tenant, purpose,
                                allow_plain=self.plain_allowed or tenant in UNSEALED_TENANTS)

    def read_bytes(self, path: Path, tenant: str, purpose: str) -> bytes:
        with self.open_file(path, tenant, purpose) as handle:
            return handle.read()

    def seal_tree(self, source: Path, target: Path, tenant: str, prefix: str) -> None:
        """Every file of ``source`` sealed to the same relative path under ``target``; each
        file's purpose is ``<prefix>/<relative path>``, so a file moved inside the tree fails."""
        sealer = self._sealer()
        primary = sealer.keyring.primary_id(tenant)
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            relative = path.relative_to(source)
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            sealer.seal_file(path, destination, tenant, f"{prefix}/{relative.as_posix()}",
                             key_id=primary)

    def unseal_tree(self, stored: Path, target: Path, tenant: str, prefix: str) -> None:
        """``seal_tree`` undone: every file of ``stored`` decrypted under ``target``."""
        self._checkouts().unseal_tree(stored, target, tenant, prefix)

    def checkout(self, stored: Path, tenant: str, prefix: str, *, defer_weights: bool = False
                 ) -> Path:
        """A decrypted working copy of a sealed tree, in the workspace (shared per tree);
        ``defer_weights``: its large weight files only once ``checkouts.materialize`` asks."""
        return self._checkouts().checkout(stored, tenant, prefix, defer=defer_weights)

    def release(self, stored: Path) -> None:
        """Remove the working copy of ``stored`` (a replica unloaded it)."""
        if self.sealer is not None:
            self._checkouts().release(stored)

    def _checkouts(self) -> Checkouts:
        with self._lock:
            if self._copies is None:
                self._copies = Checkouts(self._sealer(), self._workspace().new_dir)
            return self._copies

    def private_dir(self, prefix: str) -> Path:
        """A fresh private directory in memory-backed space (this process's; the caller
        removes it, or it goes at exit)."""
        return self._workspace().new_dir(prefix)

    def scratch(self, name: str) -> Path:
        """Private memory-backed scratch any process of this user finds by ``name``."""
        return self._workspace().shared_dir(name)

    def compile_root(self, tenant: str) -> Path:
        """Where compiled forms (ONNX exports, int8 builds) of a sealed tenant's models are
        built: they hold its weights, so in memory-backed space (kept sealed elsewhere by the
        compile cache's keeper)."""
        path = self._workspace().dir / "compiled" / _slug(tenant)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path


def _plain_allowed(db: Database, seal_new: bool) -> bool:
    """The data dir's ``VaultState``, recorded at its first start with encryption: plain files
    may exist when it already held tenant data or runs with encryption off."""
    with db.session() as session:
        row = session.get(VaultState, 1)
        if row is not None:
            if not seal_new and not row.plain_allowed:
                row.plain_allowed, row.updated_at = True, utcnow()
            return row.plain_allowed
        existing = (session.scalar(select(Model.id).where(Model.tenant.not_in(UNSEALED_TENANTS))
                                   .limit(1)) is not None
                    or session.scalar(select(DatasetRow.id).limit(1)) is not None)
    allowed = existing or not seal_new
    try:
        with db.session() as session:
            session.add(VaultState(id=1, plain_allowed=allowed, updated_at=utcnow()))
    except IntegrityError:
        with db.session() as session:
            return session.get_one(VaultState, 1).plain_allowed
    return allowed


def _slug(tenant: str) -> str:
    return hashlib.sha256(tenant.encode()).hexdigest()[:16]
