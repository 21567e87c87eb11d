"""The tenant's uploaded datasets: receive, validate, store, list, load and delete.

An upload is streamed to a staging dir inside the data dir (counted against the upload limit
and hashed on the way in), parsed and checked there, and only then moved whole to
``<data dir>/datasets/<id>/`` and recorded in the ``datasets`` table: a crash mid-upload leaves
a staging dir (owned by the process, swept once it is gone: ``aiaas.registry.hygiene``) and
nothing registered; a full disk anywhere on the way is ``InsufficientStorage`` (507). The
original file is kept (``original.csv|jsonl|zip``), and it is what a job reads: an image set's
ZIP is read in place, never unpacked (sets stored before that keep their ``images/<class>/<file>``
tree, which is still read). Another tenant's dataset is reported exactly as a missing one.

An upload by a caller with a key goes through ``receiving`` and ``create``, which check its
``models:write`` scope; ``add_file`` is the offline path (the system, tests). Reading and
deleting go through ``Catalog``, which checks the caller's scope.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath
from typing import IO, Annotated, Any

from pydantic import ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from aiaas.audit import AuditLog
from aiaas.auth.principal import Principal, Scope
from aiaas.crypto.vault import Vault
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.db.training_tables import QUEUED, RUNNING, DatasetRow, Job
from aiaas.errors import Conflict, Invalid, NotFound, PayloadTooLarge
from aiaas.registry.disk import storage_guard
from aiaas.registry.owners import staging_dir
from aiaas.registry.records import validate_name
from aiaas.tasks.images import DEFAULT_MAX_PIXELS
from aiaas.training.datasets import columnar, images, parsing, validation
from aiaas.training.datasets import pii as dataset_pii
from aiaas.training.datasets.base import Dataset, DatasetInfo, Kind, Table
from aiaas.training.datasets.stats import table_stats

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".zip": "zip"}
ID_PATTERN = re.compile(r"^ds-[0-9a-f]{32}\Z")
DEFAULT_MAX_UPLOAD = 2 * 1024 * 1024 * 1024
EXPANSION = 4
"""A ZIP may expand to at most this many times the upload limit."""
ORPHAN_AGE_S = 3600.0
SEALED_PURPOSE = "dataset"
_CHUNK = 1024 * 1024


# Also the API's response model: every field but ``tasks`` is sent, defaults included, so
# /openapi.json lists them all as required.
@dataclass(frozen=True)
class DatasetRecord:
    """A dataset as the API shows it; built-ins have no format, size, checksum or date."""

    __pydantic_config__ = ConfigDict(json_schema_serialization_defaults_required=True)

    id: Annotated[str, Field(description="ds-<hex> for uploads, builtin:NAME for built-ins")]
    name: str
    kind: Annotated[str, Field(description="table or images")]
    format: Annotated[str | None, Field(description="csv, jsonl or zip; null for built-ins")]
    rows: int
    columns: Annotated[dict[str, str], Field(
        description="column name -> number, text, datetime or label")]
    label: str | None
    split_column: str | None
    timestamp: str | None
    stats: dict[str, Any]
    size_bytes: int | None = None
    sha256: str | None = None
    created_at: datetime | None = None
    description: str = ""
    builtin: bool = False
    tasks: Annotated[tuple[str, ...], Field(exclude=True)] = field(default=())
    tenant: Annotated[str, Field(exclude=True)] = ""

    @classmethod
    def of(cls, row: DatasetRow) -> DatasetRecord:
        return cls(row.id, row.name, row.kind, row.format, row.rows, dict(row.columns), row.label,
                   row.split_column, row.timestamp, dict(row.stats), row.size_bytes, row.sha256,
                   row.created_at, tenant=row.tenant)

    def info(self) -> DatasetInfo:
        kind: Kind = "images" if self.kind == "images" else "table"
        return DatasetInfo(self.id, kind, self.rows, dict(self.columns), label=self.label,
                           split_column=self.split_column, timestamp=self.timestamp,
                           tasks=self.tasks, description=self.description, stats=dict(self.stats))


class Upload:
    """The file being received: written to ``path``, counted against ``limit`` (413 past it)
    and hashed on the way in. ``close()`` before handing it to ``DatasetStore.create``."""

    def __init__(self, path: Path, filename: str, limit: int) -> None:
        self.path, self.filename, self.limit = path, filename, limit
        self.size = 0
        self._hash = hashlib.sha256()
        self._handle: IO[bytes] | None = path.open("xb")

    def write(self, data: bytes) -> None:
        assert self._handle is not None, "write after close"
        self.size += len(data)
        if self.size > self.limit:
            raise PayloadTooLarge(f"upload exceeds the limit of {self.limit} bytes",
                                  details={"field": "file", "limit": self.limit})
        self._hash.update(data)
        with storage_guard("receiving the upload"):
            self._handle.write(data)

    def close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            with storage_guard("receiving the upload"):
                handle.close()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def dataset_name(name: str) -> str:
    """``validate_name``'s rule, worded for datasets; a name may not look like a dataset id."""
    try:
        validate_name(name)
    except Invalid:
        raise Invalid(f"invalid dataset name {name!r}: use 1-128 lowercase letters, digits, '.', "
                      "'-' or '_', starting with a letter or digit", details={"field": "name"}
                      ) from None
    if ID_PATTERN.match(name):
        raise Invalid(f"invalid dataset name {name!r}: it looks like a dataset id",
                      details={"field": "name"})
    return name


def name_from_filename(filename: str) -> str:
    """The file's stem made into a valid name (``My Data (2).csv`` -> ``my-data-2``)."""
    stem = PurePath(filename.replace("\\", "/")).stem.lower()
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-._")[:128].rstrip("-._")
    return cleaned if cleaned and not ID_PATTERN.match(cleaned) else "dataset"


class DatasetStore:
    def __init__(self, db: Database, data_dir: Path, *, tmp_dir: Path | None = None,
                 max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
                 max_image_pixels: int = DEFAULT_MAX_PIXELS, audit: AuditLog | None = None,
                 vault: Vault | None = None) -> None:
        self.db = db
        self.vault = vault or Vault.off()
        """Seals a tenant's files; its uploads are received and checked in memory-backed
        space, so their plaintext never lands on the data dir's disk."""
        self.audit = audit
        """Told of every upload and deletion made by a caller (``create``, ``delete``'s actor)."""
        self.root = data_dir / "datasets"
        self.tmp_dir = tmp_dir or data_dir / "tmp"
        self.max_upload_bytes = max_upload_bytes
        self.max_image_pixels = max_image_pixels
        self.privacy: dataset_pii.TextAnalyzer | None = None
        """The PII analyzer an upload with ``pii`` uses (the server sets it; without it such
        an upload is refused, never stored unscanned)."""

    @staticmethod
    def check_filename(filename: str) -> str:
        """The format the file name's extension gives; ``Invalid`` naming the accepted ones."""
        fmt = FORMATS.get(PurePath(filename).suffix.lower())
        if fmt is None:
            raise Invalid(f"unsupported file {filename!r}: upload a .csv, .jsonl or .zip file",
                          details={"field": "file", "accepted": sorted(FORMATS)})
        return fmt

    @contextmanager
    def staging(self, tenant: str | None = None) -> Iterator[Path]:
        """A fresh dir next to the final place (same file system); removed afterwards. A crash
        leaves it behind for ``aiaas.registry.hygiene`` (``stage-<owner>-*``); a full disk in
        the block is ``InsufficientStorage``. For a sealed ``tenant`` it is a private dir in
        memory-backed space instead (``_place`` seals what it holds into the data dir)."""
        with storage_guard("storing a dataset"):
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            path = (self.vault.private_dir("upload") if tenant and self.vault.seals(tenant)
                    else staging_dir(self.tmp_dir))
            try:
                yield path
            finally:
                shutil.rmtree(path, ignore_errors=True)

    @contextmanager
    def receiving(self, principal: Principal) -> Iterator[Path]:
        """``staging`` for an upload by ``principal``: ``Forbidden`` without ``models:write``,
        before a byte of it is read."""
        principal.require(Scope.MODELS_WRITE)
        with self.staging(principal.tenant) as path:
            yield path

    def open_upload(self, staging: Path, filename: str) -> Upload:
        self.check_filename(filename)
        return Upload(staging / "upload", filename, self.max_upload_bytes)

    def add_file(self, source: Path, *, tenant: str, created_by: str, **options: str | None
                 ) -> DatasetRecord:
        """Upload a local file (the offline path; the API streams through ``open_upload``)."""
        with self.staging(tenant) as staging:
            upload = self.open_upload(staging, source.name)
            try:
                with source.open("rb") as handle:
                    while chunk := handle.read(_CHUNK):
                        upload.write(chunk)
            finally:
                upload.close()
            return self._create(upload, None, tenant=tenant, created_by=created_by, **options)

    def create(self, principal: Principal, upload: Upload, *, name: str | None = None,
               label: str | None = None, split_column: str | None = None,
               timestamp: str | None = None, pii: str | None = None) -> DatasetRecord:
        """Validate the received file and register it for the caller's tenant (``models:write``);
        4xx naming the line or file otherwise. ``pii``: ``report`` or ``redact`` (``pii``)."""
        principal.require(Scope.MODELS_WRITE)
        return self._create(upload, principal, tenant=principal.tenant,
                            created_by=principal.key_id, name=name, label=label,
                            split_column=split_column, timestamp=timestamp, pii=pii)

    def _create(self, upload: Upload, actor: Principal | None, /, *, tenant: str, created_by: str,
                name: str | None = None, label: str | None = None,
                split_column: str | None = None, timestamp: str | None = None,
                pii: str | None = None) -> DatasetRecord:
        """Store the upload; ``actor`` (a caller, not the offline path) is recorded in the audit
        log."""
        upload.close()
        fmt = self.check_filename(upload.filename)
        pii_mode = dataset_pii.check_mode(pii)
        if pii_mode is not None and fmt == "zip":
            raise Invalid("pii applies to tables (.csv, .jsonl), not image sets",
                          details={"field": "pii"})
        name = dataset_name(name) if name else name_from_filename(upload.filename)
        self._check_free(tenant, name)
        if upload.size == 0:
            raise Invalid("the file is empty", details={"field": "file"})
        if fmt == "zip" and (label or split_column or timestamp):
            raise Invalid("label, split_column and timestamp apply to tables; an image set's "
                          "labels are its folder names", details={"field": "label"})
        dataset_id = "ds-" + uuid.uuid4().hex
        staged = upload.path.parent / dataset_id
        staged.mkdir()
        original = staged / f"original.{fmt}"
        upload.path.rename(original)
        row = DatasetRow(id=dataset_id, tenant=tenant, name=name, format=fmt,
                         size_bytes=upload.size, sha256=upload.sha256, created_by=created_by,
                         created_at=utcnow())
        if fmt == "zip":
            stats = images.check(original, max_bytes=self.max_upload_bytes * EXPANSION,
                                 max_pixels=self.max_image_pixels)
            row.kind, row.rows, row.columns, row.stats = "images", stats["rows"], {}, stats
        else:
            report = None  # a PII scan reads the exact path's cells
            checked = None if pii_mode is not None else columnar.read_checked(
                original, fmt, label=label, split_column=split_column, timestamp=timestamp)
            if checked is None:
                raw = parsing.read_table(original, fmt)
                checked = validation.check_table(raw, label=label, split_column=split_column,
                                                 timestamp=timestamp)
                if pii_mode is not None:
                    raw, checked, report = self._scan(raw, checked, pii_mode, original, row)
            row.kind, row.rows, row.columns = "table", len(checked.frame), checked.columns
            row.label, row.split_column, row.timestamp = (
                checked.label, checked.split_column, checked.timestamp)
            row.stats = table_stats(checked.frame, checked.columns, label=checked.label,
                                    split_column=checked.split_column)
            if report is not None:
                row.stats = {**row.stats, "pii": report}
        self.root.mkdir(parents=True, exist_ok=True)
        final = self.root / dataset_id
        self._place(staged, final, tenant)
        try:
            with self.db.session() as session:
                session.add(row)
                session.flush()
                if actor is not None and self.audit is not None:
                    self.audit.record(actor, "dataset.upload", "dataset", dataset_id,
                                      after=_audited(row), session=session)
                return DatasetRecord.of(row)
        except IntegrityError:
            shutil.rmtree(final, ignore_errors=True)
            raise self._taken(name) from None
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise

    def _place(self, staged: Path, final: Path, tenant: str) -> None:
        """Move the checked dataset into place with one rename; a sealed tenant's files are
        sealed into a data-dir staging dir first."""
        if not self.vault.seals(tenant):
            staged.rename(final)
            return
        with self.staging() as persist:
            self.vault.seal_tree(staged, persist / final.name, tenant, SEALED_PURPOSE)
            (persist / final.name).rename(final)

    def _scan(self, raw: parsing.RawTable, checked: validation.CheckedTable, mode: dataset_pii.PiiMode,
              original: Path, row: DatasetRow
              ) -> tuple[parsing.RawTable, validation.CheckedTable, dict[str, Any]]:
        """The PII report; with ``redact`` the stored file is replaced by the redacted table (as
        CSV) and checked again."""
        from aiaas.errors import Unavailable

        if self.privacy is None:
            raise Unavailable("PII scanning is not available here; upload without pii or "
                              "through a server", code="privacy_unavailable")
        skip = {name for name in (checked.label, checked.split_column) if name}
        report = dataset_pii.scan(raw, checked.columns, skip, self.privacy, mode)
        if mode == "redact":
            redacted = original.with_name("original.csv")
            original.unlink()
            dataset_pii.write_csv(raw, redacted)
            checked = validation.check_table(raw, label=checked.label,
                                             split_column=checked.split_column,
                                             timestamp=checked.timestamp)
            data = redacted.read_bytes()
            row.format, row.size_bytes = "csv", len(data)
            row.sha256 = hashlib.sha256(data).hexdigest()
        return raw, checked, report

    @staticmethod
    def _taken(name: str) -> Conflict:
        return Conflict(f"a dataset named {name!r} already exists; pick another name or delete "
                        "it first", details={"field": "name"})

    def _check_free(self, tenant: str, name: str) -> None:
        with self.db.session() as session:
            taken = session.scalar(select(DatasetRow.id).where(DatasetRow.tenant == tenant,
                                                               DatasetRow.name == name))
        if taken is not None:
            raise self._taken(name)

    def _find(self, tenant: str, ref: str) -> DatasetRow | None:
        column = DatasetRow.id if ID_PATTERN.match(ref) else DatasetRow.name
        with self.db.session() as session:
            return session.scalar(select(DatasetRow).where(DatasetRow.tenant == tenant,
                                                           column == ref))

    def find(self, tenant: str, ref: str) -> DatasetRecord | None:
        """The tenant's dataset by id (``ds-...``) or name; ``None`` when it has none such."""
        row = self._find(tenant, ref)
        return DatasetRecord.of(row) if row is not None else None

    def get(self, tenant: str, ref: str) -> DatasetRecord:
        record = self.find(tenant, ref)
        if record is None:
            raise NotFound(f"dataset {ref!r} not found", details={"dataset": ref})
        return record

    def list_datasets(self, tenant: str) -> list[DatasetRecord]:
        """The tenant's datasets, oldest first."""
        with self.db.session() as session:
            rows = session.scalars(select(DatasetRow).where(DatasetRow.tenant == tenant)
                                   .order_by(DatasetRow.created_at, DatasetRow.id))
            return [DatasetRecord.of(row) for row in rows]

    def delete(self, tenant: str, ref: str, *, actor: Principal | None = None) -> None:
        """Refused (409 naming the job) while a queued or running job uses the dataset;
        ``actor``'s deletion is recorded in the audit log."""
        record = self.get(tenant, ref)
        with self.db.session() as session:
            job = session.scalar(select(Job).where(
                Job.tenant == tenant, Job.status.in_((QUEUED, RUNNING)),
                Job.dataset.in_((record.id, record.name))).order_by(Job.created_at))
            if job is not None:
                raise Conflict(f"dataset {record.name!r} is used by job {job.id} ({job.status}); "
                               "cancel the job or wait for it to finish",
                               details={"job": job.id})
            row = session.get(DatasetRow, record.id)
            if row is not None:
                session.delete(row)
                if actor is not None and self.audit is not None:
                    self.audit.record(actor, "dataset.delete", "dataset", record.id,
                                      before=_audited(row), session=session)
        shutil.rmtree(self.root / record.id, ignore_errors=True)

    def load(self, record: DatasetRecord) -> Dataset:
        """The stored dataset as a ``Table`` or an ``ImageSet``, checked as at upload."""
        folder = self.root / record.id

        def read(path: Path) -> IO[bytes]:
            purpose = f"{SEALED_PURPOSE}/{path.relative_to(folder).as_posix()}"
            return self.vault.open_file(path, record.tenant, purpose)

        def read_bytes(path: Path) -> bytes:
            with read(path) as handle:
                return handle.read()

        if record.kind == "images" and (folder / "images").is_dir():
            return images.load_tree(folder / "images", record.info(),
                                    max_pixels=self.max_image_pixels, read=read_bytes)
        assert record.format is not None
        if record.kind == "images":
            with read(folder / "original.zip") as handle:
                return images.load(handle, record.info(), max_pixels=self.max_image_pixels,
                                   max_bytes=self.max_upload_bytes * EXPANSION)
        with read(folder / f"original.{record.format}") as handle:
            checked = columnar.load_checked(handle, record.format, label=record.label,
                                            split_column=record.split_column,
                                            timestamp=record.timestamp)
        return Table(record.info(), checked.frame)

    def sweep(self, older_than_s: float = ORPHAN_AGE_S) -> list[str]:
        """Remove dataset dirs with no row (a crash between moving them and recording them)."""
        if not self.root.is_dir():
            return []
        cutoff = time.time() - older_than_s
        candidates = [p for p in self.root.iterdir()
                      if ID_PATTERN.match(p.name) and p.stat().st_mtime < cutoff]
        if not candidates:
            return []
        with self.db.session() as session:
            known = set(session.scalars(select(DatasetRow.id).where(
                DatasetRow.id.in_([p.name for p in candidates]))))
        removed = [p.name for p in candidates if p.name not in known]
        for name in removed:
            shutil.rmtree(self.root / name, ignore_errors=True)
        return removed


def _audited(row: DatasetRow) -> dict[str, Any]:
    """What the audit log keeps of a dataset uploaded or deleted."""
    return {"name": row.name, "format": row.format, "kind": row.kind, "rows": row.rows,
            "size_bytes": row.size_bytes, "sha256": row.sha256}
