"""Operations on a data dir's encryption at rest that an operator runs (``aiaas crypto``):
re-wrapping the data keys under a new master key, re-sealing a tenant's files under a new data
key, and sealing the files of a data dir written before encryption was on.

Each is resumable: it makes one atomic change per file or row, and a rerun skips what is done,
so a ``kill -9`` at any point leaves every file readable (old or new form) and the rerun
finishes. Run them with the server stopped or quiet: a file written by a server while a tenant
rotation walks the data dir is caught by its second pass.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from aiaas.config import Settings
from aiaas.crypto import keyring, master
from aiaas.crypto.sealed import Sealer, is_sealed, read_header
from aiaas.db.engine import Database
from aiaas.db.tables import Model, ModelVersion
from aiaas.db.training_tables import DatasetRow, EvaluationRow, Job
from aiaas.errors import KeyProblem
from aiaas.registry.sealing import PURPOSE as ARTIFACT_PURPOSE
from aiaas.registry.sealing import sealed_digest
from aiaas.training.datasets.uploads import SEALED_PURPOSE as DATASET_PURPOSE
from aiaas.training.jobs import PLOT_PURPOSE
from aiaas.training.wiring import Core

Tick = Callable[[int], None]
"""Told how many files a step finished (a progress bar's ``advance``)."""

ROOTS = ("artifacts", "datasets", "jobs", "evaluations")


def rotate_master(settings: Settings, new_key_file: Path) -> tuple[int, int]:
    """Re-wrap every tenant key from the configured master key to ``new_key_file``'s (no data
    file changes). Returns (re-wrapped, already under the new key)."""
    db = Database(settings.sqlalchemy_url)
    try:
        secret = settings.master_key.get_secret_value() if settings.master_key else None
        old = master.load(settings.master_key_file, secret, may_create=False)
        new = master.load(new_key_file, None, may_create=False)
        return keyring.rewrap(db, old, new)
    finally:
        db.dispose()


def _files(data_dir: Path) -> Iterator[Path]:
    """Every stored file under the roots that hold tenant data; a ``.part`` left by a killed
    re-seal is removed on the way (its original is still whole beside it)."""
    for root in ROOTS:
        for dirpath, _dirs, names in os.walk(data_dir / root):
            for name in names:
                path = Path(dirpath) / name
                if name.startswith(".") and name.endswith(".part"):
                    with _writable(path.parent):
                        path.unlink(missing_ok=True)
                    continue
                if path.is_file() and not path.is_symlink():
                    yield path


def tenant_files(data_dir: Path, tenant: str) -> list[Path]:
    """The sealed files of ``tenant`` (read from their headers)."""
    found = []
    for path in _files(data_dir):
        with path.open("rb") as handle:
            header = read_header(handle, path.name)
        if header is not None and header.tenant == tenant:
            found.append(path)
    return found


@contextlib.contextmanager
def _writable(directory: Path) -> Iterator[None]:
    """Let a read-only artifact directory take a rename, then make it read-only again."""
    mode = directory.stat().st_mode & 0o777
    if mode & 0o200:
        yield
        return
    directory.chmod(mode | 0o200)
    try:
        yield
    finally:
        directory.chmod(mode)


def rotate_tenant(core: Core, tenant: str, *, start: Callable[[int], None], tick: Tick
                  ) -> tuple[int, int]:
    """Give ``tenant`` a new data key and re-seal its files with it, then drop the old keys.
    A rerun after a kill resumes (the keyset still holds the old keys; files done are skipped).
    Returns (files re-sealed, files of the tenant)."""
    sealer = _sealer(core)
    ring = sealer.keyring
    if ring.key_count(tenant) == 1:
        ring.add_primary(tenant)
    resealed = total = 0
    for _pass in range(2):
        files = tenant_files(core.settings.data_dir, tenant)
        total = len(files)
        start(total)
        for path in files:
            mode = path.stat().st_mode & 0o777
            with _writable(path.parent):
                if sealer.reseal(path):
                    path.chmod(mode)
                    resealed += 1
            tick(1)
    ring.drop_old(tenant)
    return resealed, total


@dataclass
class Plain:
    """A plain file of a sealed tenant, and the purpose it is to be sealed for."""

    tenant: str
    path: Path
    purpose: str


def _plain_files(core: Core) -> tuple[list[Plain], list[tuple[str, str]]]:
    """(plain files of sealed tenants under datasets, jobs and evaluations; (tenant, digest)
    of tenant artifacts stored plain)."""
    data_dir, vault = core.settings.data_dir, core.vault
    files: list[Plain] = []
    with core.db.session() as session:
        datasets = list(session.execute(select(DatasetRow.id, DatasetRow.tenant)))
        jobs = list(session.execute(select(Job.id, Job.tenant)))
        evaluations = list(session.execute(select(EvaluationRow.id, EvaluationRow.tenant)))
        artifacts = sorted(set(session.execute(
            select(Model.tenant, ModelVersion.sha256).join(Model, ModelVersion.model_id == Model.id)
        )))
    for dataset_id, tenant in datasets:
        folder = data_dir / "datasets" / dataset_id
        files += [Plain(tenant, p, f"{DATASET_PURPOSE}/{p.relative_to(folder).as_posix()}")
                  for p in _plain_under(folder)]
    for root, rows in (("jobs", jobs), ("evaluations", evaluations)):
        for owner_id, tenant in rows:
            files += [Plain(tenant, p, f"{PLOT_PURPOSE}/{p.name}")
                      for p in _plain_under(data_dir / root / owner_id) if p.suffix == ".png"]
    store = core.registry.store
    pending = [(tenant, digest) for tenant, digest in artifacts
               if vault.seals(tenant) and not store.path_of(sealed_digest(tenant, digest)).is_dir()
               and store.path_of(digest).is_dir()]
    return [f for f in files if vault.seals(f.tenant)], pending


def _plain_under(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not is_sealed(p))


def migrate(core: Core, *, start: Callable[[int], None], tick: Tick) -> tuple[int, int]:
    """Seal every tenant file stored plain (datasets, plots, model artifacts), each checked by
    reading it back before the plain copy goes. Returns (files sealed, artifacts re-stored)."""
    sealer = _sealer(core)
    files, artifacts = _plain_files(core)
    start(len(files) + len(artifacts))
    for item in files:
        sealed = item.path.with_name(f".{item.path.name}.sealing.part")
        sealed.unlink(missing_ok=True)
        sealer.seal_file(item.path, sealed, item.tenant, item.purpose)
        if sealer.read_bytes(sealed, item.tenant, item.purpose) != item.path.read_bytes():
            raise RuntimeError(f"sealed copy of {item.path} does not read back; nothing replaced")
        sealed.replace(item.path)
        tick(1)
    store = core.registry.store
    for tenant, digest in artifacts:
        plain = store.open(digest)
        with store.staging() as staged:
            core.vault.seal_tree(plain, staged, tenant, ARTIFACT_PURPOSE)
            size = sum(p.stat().st_size for p in plain.rglob("*") if p.is_file())
            store.put_staged(staged, known=(sealed_digest(tenant, digest), size))
        tick(1)
    _drop_plain_copies(core)
    if core.vault.seal_new:
        core.vault.all_sealed(core.db)
    return len(files), len(artifacts)


def _drop_plain_copies(core: Core) -> None:
    """Remove plain artifacts whose every user is a sealed tenant holding its sealed copy (also
    those a killed run sealed but did not remove)."""
    store, vault = core.registry.store, core.vault
    users: dict[str, set[str]] = {}
    with core.db.session() as session:
        for tenant, digest in session.execute(
                select(Model.tenant, ModelVersion.sha256)
                .join(Model, ModelVersion.model_id == Model.id)):
            users.setdefault(digest, set()).add(tenant)
    for digest, tenants in users.items():
        if store.path_of(digest).is_dir() and all(
                vault.seals(t) and store.path_of(sealed_digest(t, digest)).is_dir()
                for t in tenants):
            store.remove(digest)


def _sealer(core: Core) -> Sealer:
    if core.vault.sealer is None:
        raise KeyProblem("encryption at rest is off (AIAAS_ENCRYPT_AT_REST=false)")
    return core.vault.sealer
