"""Datasets, the deploy gate and the metric functions, checked on their own."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from aiaas.errors import Invalid
from aiaas.training import datasets, evaluation, gate


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


@pytest.mark.parametrize(("text", "metrics", "holds", "why"), [
    ("accuracy>=0.95", {"accuracy": 0.965}, True, "accuracy 0.965 >= 0.95"),
    (" f1_macro > 0.9 ", {"f1_macro": 0.9}, False, "not f1_macro 0.9 > 0.9"),
    ("roc_auc<1e0", {"roc_auc": 0.5}, True, "roc_auc 0.5 < 1"),
    ("accuracy==1", {}, False, "accuracy was not measured"),
])
def test_gate_conditions(text: str, metrics: dict[str, float], holds: bool, why: str) -> None:
    assert gate.parse(text, evaluation.SCALARS_CLASSIFICATION).check(metrics) == (holds, why)


@pytest.mark.parametrize("text", ["accuracy", "accuracy=>0.9", "1<accuracy", "accuracy>=x",
                                  "accuracy>=0.9;rm", "rmse<=50", "__class__>=1"])
def test_gate_refuses_anything_else(text: str) -> None:
    with pytest.raises(Invalid):
        gate.parse(text, evaluation.SCALARS_CLASSIFICATION)
    assert gate.parse("rmse<=50", evaluation.SCALARS_REGRESSION).check({"rmse": 49.0})[0]


def test_metrics_equal_sklearn_on_the_same_predictions() -> None:
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    y_true, y_pred = rng.choice(labels, 200), rng.choice(labels, 200)
    got = evaluation.classification(y_true, y_pred, labels)
    assert got["accuracy"] == sk.accuracy_score(y_true, y_pred)
    assert got["f1_macro"] == sk.f1_score(y_true, y_pred, average="macro")
    assert got["per_class"]["b"]["recall"] == sk.recall_score(y_true, y_pred, labels=["b"], average=None)[0]
    assert "roc_auc" not in got
    binary_true, scores = rng.choice(["no", "yes"], 100), rng.random(100)
    binary_pred = np.where(scores > 0.5, "yes", "no")
    two = evaluation.classification(binary_true, binary_pred, ["no", "yes"],
                                    np.column_stack([1 - scores, scores]))
    assert two["roc_auc"] == sk.roc_auc_score(binary_true == "yes", scores)
    values, guesses = rng.random(50) * 100, rng.random(50) * 100
    reg = evaluation.regression(values, guesses)
    assert reg["mae"] == sk.mean_absolute_error(values, guesses)
    assert reg["rmse"] == pytest.approx(sk.root_mean_squared_error(values, guesses), rel=1e-15)
    assert reg["r2"] == sk.r2_score(values, guesses)
    assert evaluation.scalars(reg) == {"test_mae": reg["mae"], "test_rmse": reg["rmse"],
                                       "test_r2": reg["r2"], "test_samples": 50.0}
