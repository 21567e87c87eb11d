"""The catalogue a job's dataset id is resolved in: ``builtin:NAME`` here, uploaded datasets in
the tenant's own store. Another tenant's dataset is reported exactly as a missing one.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from aiaas.db.engine import Database
from aiaas.errors import NotFound
from aiaas.training.datasets import builtin
from aiaas.training.datasets.base import BUILTIN_PREFIX, Dataset, DatasetInfo


@lru_cache(maxsize=16)
def _builtin(dataset_id: str, task: str | None) -> Dataset:
    return builtin.BUILTINS[dataset_id.removeprefix(BUILTIN_PREFIX)].load(dataset_id, task)


class Catalog:
    def __init__(self, db: Database | None = None, data_dir: Path | None = None) -> None:
        self.db, self.data_dir = db, data_dir

    def _missing(self, dataset_id: str) -> NotFound:
        return NotFound(f"dataset {dataset_id!r} not found; built-in datasets: "
                        f"{', '.join(builtin.names())}", details={"field": "dataset"})

    def describe(self, tenant: str, dataset_id: str, task: str | None = None) -> DatasetInfo:
        """The dataset's metadata; ``NotFound`` naming the built-ins when it is unknown."""
        return self.load(tenant, dataset_id, task).info

    def load(self, tenant: str, dataset_id: str, task: str | None = None) -> Dataset:
        """The dataset in the shape ``task`` trains on (only built-ins that come in two shapes,
        like digits, look at it)."""
        if dataset_id.startswith(BUILTIN_PREFIX):
            if dataset_id.removeprefix(BUILTIN_PREFIX) not in builtin.BUILTINS:
                raise self._missing(dataset_id)
            return _builtin(dataset_id, task)
        raise self._missing(dataset_id)
