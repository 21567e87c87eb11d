"""The dataset catalog on SQLite and PostgreSQL: another tenant's dataset is exactly missing, and
built-ins and datasets in use are not deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiaas.errors import Conflict, NotFound
from aiaas.services import Services
from aiaas.training import datasets
from tests.training.datasets.conftest import _add, _csv, _good_rows


def test_another_tenants_dataset_is_exactly_missing(services: Services, tmp_path: Path) -> None:
    record = _add(services.datasets, tmp_path, "mine.csv", _csv(_good_rows(6)))
    catalog = services.jobs.catalog

    def missing(ref: str) -> tuple[str, Any]:
        return (f"dataset {ref!r} not found; built-in datasets: "
                f"{', '.join(datasets.builtin.names())}", {"field": "dataset"})

    for ref in (record.id, "mine"):
        for call in (catalog.describe, catalog.load, catalog.entry, catalog.delete):
            with pytest.raises(NotFound) as theirs:
                call("other", ref)
            assert (theirs.value.message, theirs.value.details) == missing(ref)
            with pytest.raises(NotFound) as unknown:
                call("t", "ds-" + "0" * 32)
            assert (unknown.value.message, unknown.value.details) == missing("ds-" + "0" * 32)
    assert services.datasets.list_datasets("other") == []
    assert catalog.entry("t", "mine") == record


def test_delete_refuses_builtins_and_datasets_in_use(quiet_services: Services,
                                                     tmp_path: Path) -> None:
    catalog = quiet_services.jobs.catalog
    with pytest.raises(Conflict, match="built-in datasets cannot be deleted"):
        catalog.delete("t", "builtin:iris")
    record = _add(quiet_services.datasets, tmp_path, "in-use.csv", _csv(_good_rows(12)))
    job = quiet_services.jobs.create(tenant="t", key_id="k", task="tabular-classification",
                                     dataset="in-use", name="m", params={"algorithm": "logistic"})
    with pytest.raises(Conflict) as caught:
        catalog.delete("t", record.id)
    assert caught.value.message == (f"dataset 'in-use' is used by job {job.id} (queued); cancel "
                                    "the job or wait for it to finish")
    quiet_services.jobs.cancel("t", job.id)
    catalog.delete("t", "in-use")
    assert not (quiet_services.datasets.root / record.id).exists()
    with pytest.raises(NotFound):
        catalog.entry("t", record.id)
