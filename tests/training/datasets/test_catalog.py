"""The dataset catalog on SQLite and PostgreSQL: another tenant's dataset is exactly missing, and
built-ins and datasets in use are not deleted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiaas.auth.principal import DEFAULT_SCOPES, Principal, Scope
from aiaas.errors import Conflict, Forbidden, NotFound
from aiaas.services import Services
from aiaas.training import datasets
from tests.training.conftest import CALLER
from tests.training.datasets.conftest import _add, _csv, _good_rows


def test_another_tenants_dataset_is_exactly_missing(services: Services, tmp_path: Path) -> None:
    record = _add(services.datasets, tmp_path, "mine.csv", _csv(_good_rows(6)))
    catalog = services.jobs.catalog

    def missing(ref: str) -> tuple[str, Any]:
        return (f"dataset {ref!r} not found; built-in datasets: "
                f"{', '.join(datasets.builtin.names())}", {"field": "dataset"})

    def calls(tenant: str, caller: Principal) -> list[Callable[[str], object]]:
        return [lambda ref: catalog.describe(tenant, ref), lambda ref: catalog.load(tenant, ref),
                lambda ref: catalog.entry(caller, ref), lambda ref: catalog.delete(caller, ref)]

    other = Principal("other", "k", frozenset(DEFAULT_SCOPES))
    for ref in (record.id, "mine"):
        for theirs_call, own_call in zip(calls("other", other), calls("t", CALLER), strict=True):
            with pytest.raises(NotFound) as theirs:
                theirs_call(ref)
            assert (theirs.value.message, theirs.value.details) == missing(ref)
            with pytest.raises(NotFound) as unknown:
                own_call("ds-" + "0" * 32)
            assert (unknown.value.message, unknown.value.details) == missing("ds-" + "0" * 32)
    assert services.datasets.list_datasets("other") == []
    assert catalog.entry(CALLER, "mine") == record


def test_delete_refuses_builtins_and_datasets_in_use(quiet_services: Services,
                                                     tmp_path: Path) -> None:
    catalog = quiet_services.jobs.catalog
    with pytest.raises(Conflict, match="built-in datasets cannot be deleted"):
        catalog.delete(CALLER, "builtin:iris")
    record = _add(quiet_services.datasets, tmp_path, "in-use.csv", _csv(_good_rows(12)))
    job = quiet_services.jobs.create(CALLER, task="tabular-classification",
                                     dataset="in-use", name="m", params={"algorithm": "logistic"})
    with pytest.raises(Conflict) as caught:
        catalog.delete(CALLER, record.id)
    assert caught.value.message == (f"dataset 'in-use' is used by job {job.id} (queued); cancel "
                                    "the job or wait for it to finish")
    quiet_services.jobs.cancel(CALLER, job.id)
    catalog.delete(CALLER, "in-use")
    assert not (quiet_services.datasets.root / record.id).exists()
    with pytest.raises(NotFound):
        catalog.entry(CALLER, record.id)


def test_reading_and_deleting_check_the_callers_scope(services: Services, tmp_path: Path) -> None:
    """The catalogue and the store check scopes themselves, whatever route or page calls them."""
    record = _add(services.datasets, tmp_path, "mine.csv", _csv(_good_rows(6)))
    catalog, store = services.jobs.catalog, services.datasets
    writer = Principal("t", "k", frozenset({Scope.MODELS_WRITE}))
    for read in (lambda: catalog.entries(writer), lambda: catalog.entry(writer, record.id)):
        with pytest.raises(Forbidden, match="'models:read' scope"):
            read()
    reader = Principal("t", "k", frozenset({Scope.MODELS_READ}))
    with pytest.raises(Forbidden, match="'models:write' scope"):
        catalog.delete(reader, record.id)
    with pytest.raises(Forbidden, match="'models:write' scope"), store.receiving(reader):
        raise AssertionError("a reader got a staging dir for an upload")
    assert catalog.entry(reader, record.id) == record


def test_preview_is_the_first_rows_as_a_job_reads_them(services: Services, tmp_path: Path) -> None:
    from tests.training.datasets.test_images import _classes, _zip

    text = "when,score,note,label\n2024-01-0{0},{0}.5,n{0},{1}\n"
    rows = "".join(text.split("\n", 1)[1].format(i, "ab"[i % 2]) for i in range(1, 6))
    _add(services.datasets, tmp_path, "mine.csv", text.split("\n", 1)[0] + "\n" + rows
         + "2024-01-09,NA,,a\n", timestamp="when")
    catalog = services.jobs.catalog
    shown = catalog.preview(CALLER, "mine", limit=3)
    assert shown is not None and shown.columns == ["when", "score", "note", "label"]
    assert shown.rows == [["2024-01-01T00:00:00", 1.5, "n1", "b"],
                          ["2024-01-02T00:00:00", 2.5, "n2", "a"],
                          ["2024-01-03T00:00:00", 3.5, "n3", "b"]]
    everything = catalog.preview(CALLER, "mine")
    assert everything is not None and everything.rows[-1] == ["2024-01-09T00:00:00", None, None, "a"]
    iris = catalog.preview(CALLER, "builtin:iris", limit=2)
    assert iris is not None and len(iris.rows) == 2 and "label" in iris.columns
    _add(services.datasets, tmp_path, "pets.zip", _zip(_classes()))
    assert catalog.preview(CALLER, "pets") is None
    with pytest.raises(NotFound):
        catalog.preview(Principal("other", "k", frozenset(DEFAULT_SCOPES)), "mine")
    with pytest.raises(Forbidden, match="'models:read' scope"):
        catalog.preview(Principal("t", "k", frozenset({Scope.MODELS_WRITE})), "mine")


def test_preview_reads_a_sealed_dataset_through_the_vault(tmp_path: Path) -> None:
    from aiaas.config import Settings
    from aiaas.crypto.sealed import MAGIC
    from aiaas.training import wiring

    core = wiring.build(Settings(data_dir=tmp_path / "data", builtin_models=False,
                                 encrypt_at_rest=True))
    record = _add(core.datasets, tmp_path, "sealed.csv", _csv(_good_rows(6)))
    stored = tmp_path / "data" / "datasets" / record.id / "original.csv"
    assert stored.read_bytes().startswith(MAGIC)
    shown = core.catalog.preview(CALLER, "sealed", limit=2)
    assert shown is not None and shown.rows == [[0, 0.0, 0, 0, "no"], [1, 0.5, 1, 2, "yes"]]
    core.db.dispose()
