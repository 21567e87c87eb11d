"""The catalogue a dataset reference is resolved in: ``builtin:NAME`` among the built-ins, anything
else among the tenant's uploads, by id (``ds-...``) or by name. Another tenant's dataset is
reported exactly as a missing one.

What a caller with a key reads or deletes (``entries``, ``entry``, ``delete``) takes its
``Principal`` and checks the scope; ``describe`` and ``load`` take a tenant, for the job
service, the training runner and evaluations, which have checked theirs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiaas.auth.principal import Principal, Scope
from aiaas.db.engine import Database
from aiaas.errors import Conflict, NotFound
from aiaas.training.datasets import builtin
from aiaas.training.datasets.base import BUILTIN_PREFIX, Dataset, DatasetInfo, ImageSet, Table
from aiaas.training.datasets.stats import image_stats, table_stats
from aiaas.training.datasets.uploads import DatasetRecord, DatasetStore

PREVIEW_ROWS = 20


@dataclass(frozen=True)
class Preview:
    """The first rows of a table as a job reads them, JSON-ready: ``None`` for a missing value,
    ISO text for a date, plain numbers and strings otherwise."""

    columns: list[str]
    rows: list[list[Any]]


def _cell(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, date):  # a numpy scalar
        value = value.item()
    try:
        missing = value is None or bool(value != value)  # NaN and NaT differ from themselves
    except TypeError:  # pandas' NA has no truth value
        missing = True
    if missing or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, date):
        return value.isoformat()
    return value if isinstance(value, bool | int | float | str) else str(value)


@lru_cache(maxsize=16)
def _builtin(dataset_id: str, task: str | None) -> Dataset:
    return builtin.BUILTINS[dataset_id.removeprefix(BUILTIN_PREFIX)].load(dataset_id, task)


@lru_cache(maxsize=64)
def _builtin_record(dataset_id: str) -> DatasetRecord:
    dataset = _builtin(dataset_id, None)
    info = dataset.info
    if isinstance(dataset, ImageSet):
        stats = image_stats(dataset.labels, [image.size for image in dataset.images],
                            [image.format or image.mode for image in dataset.images])
        kind = "images"
    else:
        stats = table_stats(dataset.frame, info.columns, label=info.label,
                            split_column=info.split_column)
        kind = "table"
    entry = builtin.BUILTINS[dataset_id.removeprefix(BUILTIN_PREFIX)]
    return DatasetRecord(dataset_id, dataset_id, kind, None, info.rows, dict(info.columns),
                         info.label, info.split_column, info.timestamp, stats,
                         description=entry.description, builtin=True, tasks=entry.tasks)


class Catalog:
    def __init__(self, db: Database | None = None, data_dir: Path | None = None,
                 store: DatasetStore | None = None) -> None:
        self.db, self.data_dir = db, data_dir
        self.store = store or (DatasetStore(db, data_dir) if db is not None and data_dir is not None
                               else None)

    def _missing(self, dataset_id: str) -> NotFound:
        return NotFound(f"dataset {dataset_id!r} not found; built-in datasets: "
                        f"{', '.join(builtin.names())}", details={"field": "dataset"})

    @staticmethod
    def _is_builtin(dataset_id: str) -> bool:
        return (dataset_id.startswith(BUILTIN_PREFIX)
                and dataset_id.removeprefix(BUILTIN_PREFIX) in builtin.BUILTINS)

    def _upload(self, tenant: str, dataset_id: str) -> DatasetRecord:
        record = None
        if self.store is not None and not dataset_id.startswith(BUILTIN_PREFIX):
            record = self.store.find(tenant, dataset_id)
        if record is None:
            raise self._missing(dataset_id)
        return record

    def describe(self, tenant: str, dataset_id: str, task: str | None = None) -> DatasetInfo:
        """The dataset's metadata (an upload's from its row, without loading it); ``NotFound``
        naming the built-ins when it is unknown."""
        if self._is_builtin(dataset_id):
            return self.load(tenant, dataset_id, task).info
        return self._upload(tenant, dataset_id).info()

    def load(self, tenant: str, dataset_id: str, task: str | None = None) -> Dataset:
        """The dataset in the shape ``task`` trains on (only built-ins that come in two shapes,
        like digits, look at it)."""
        if self._is_builtin(dataset_id):
            return _builtin(dataset_id, task)
        record = self._upload(tenant, dataset_id)
        assert self.store is not None
        return self.store.load(record)

    def entries(self, principal: Principal) -> list[DatasetRecord]:
        """The built-ins (with statistics from loading them), then the tenant's uploads
        (``models:read``)."""
        principal.require(Scope.MODELS_READ)
        own = self.store.list_datasets(principal.tenant) if self.store is not None else []
        return [_builtin_record(name) for name in builtin.names()] + own

    def entry(self, principal: Principal, dataset_id: str) -> DatasetRecord:
        """One dataset by id or name (``models:read``)."""
        principal.require(Scope.MODELS_READ)
        if self._is_builtin(dataset_id):
            return _builtin_record(dataset_id)
        return self._upload(principal.tenant, dataset_id)

    def preview(self, principal: Principal, dataset_id: str, limit: int = PREVIEW_ROWS
                ) -> Preview | None:
        """The first ``limit`` rows of a table (``models:read``), read as a job reads it (an
        upload's file checked again, and opened through the vault when it is sealed); ``None``
        for a set of images."""
        record = self.entry(principal, dataset_id)
        if record.kind == "images":
            return None
        loaded = self.load(principal.tenant, record.id)
        if not isinstance(loaded, Table):
            return None
        head = loaded.frame.head(limit)
        return Preview([str(name) for name in head.columns],
                       [[_cell(value) for value in row]
                        for row in head.itertuples(index=False, name=None)])

    def delete(self, principal: Principal, dataset_id: str) -> None:
        """Delete an upload (``models:write``); a built-in is a 409 and stays."""
        principal.require(Scope.MODELS_WRITE)
        if self._is_builtin(dataset_id):
            raise Conflict("built-in datasets cannot be deleted", details={"dataset": dataset_id})
        self._upload(principal.tenant, dataset_id)
        assert self.store is not None
        self.store.delete(principal.tenant, dataset_id, actor=principal)
