"""The metric functions against sklearn on the same predictions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from aiaas.training import evaluation


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
