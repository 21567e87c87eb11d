"""Built-in tables as features and a target: seeded, disjoint, stratified splits, and the digits
as 64 tabular features."""

from __future__ import annotations

import numpy as np
import pytest

from aiaas.training import datasets


def load(dataset_id: str) -> datasets.TabularDataset:
    """A built-in table as features and target, for the task it is built for."""
    table = datasets.Catalog().load("tenant", dataset_id)
    return datasets.tabular(table, table.info.tasks[0])


TABULAR = sorted(name for name, entry in datasets.BUILTINS.items()
                 if {datasets.CLASSIFICATION, datasets.REGRESSION} & set(entry.tasks))


@pytest.mark.parametrize("name", TABULAR)
def test_split_is_seeded_disjoint_and_stratified(name: str) -> None:
    data = load(f"builtin:{name}")
    first, again = datasets.split(data, seed=7), datasets.split(data, seed=7)
    assert np.array_equal(first.x_test, again.x_test) and np.array_equal(first.y_train, again.y_train)
    assert not np.array_equal(first.x_test, datasets.split(data, seed=8).x_test)
    sizes = len(first.y_train) + len(first.y_val) + len(first.y_test)
    assert sizes == len(data.y) and len(first.y_test) == pytest.approx(0.2 * len(data.y), abs=1)
    train_rows = {row.tobytes() for row in first.x_train}
    assert not any(row.tobytes() in train_rows for row in first.x_test)
    if data.task == datasets.CLASSIFICATION:
        assert set(first.y_test) == set(data.y)


def test_digits_are_64_tabular_features() -> None:
    data = load("builtin:digits")
    assert data.x.shape[1] == 64 == len(data.feature_names) and len(set(data.y)) == 10
