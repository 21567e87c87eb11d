"""Held-out evaluation with scikit-learn's own metric functions (so the numbers equal sklearn's).

Classification: accuracy, precision / recall / F1 (macro and per class), the confusion matrix and,
for two classes, ROC-AUC. Regression: MAE, RMSE, R^2. Scalars live at the top level of the dict;
``per_class`` and ``confusion_matrix`` hold the structured parts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SCALARS_CLASSIFICATION = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")
SCALARS_REGRESSION = ("mae", "rmse", "r2")


def classification(y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any], labels: list[str],
                   probabilities: np.ndarray[Any, Any] | None = None) -> dict[str, Any]:
    """``probabilities`` has one column per label in ``labels`` order; ROC-AUC needs two labels
    and takes ``labels[1]`` as the positive class."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    per_p, per_r, per_f, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    metrics: dict[str, Any] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision_macro": float(precision),
        "recall_macro": float(recall),
        "f1_macro": float(f1),
        "samples": len(y_true),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, per_p, per_r, per_f, support, strict=True)
        },
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }
    if probabilities is not None and len(labels) == 2 and len(set(y_true.tolist())) == 2:
        metrics["roc_auc"] = float(roc_auc_score(y_true == labels[1], probabilities[:, 1]))
    return metrics


def regression(y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any]) -> dict[str, Any]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "r2": float(r2_score(y_true, y_pred)),
        "samples": len(y_true),
    }


def scalars(metrics: dict[str, Any], prefix: str = "test_") -> dict[str, float]:
    """The numeric top-level metrics, prefixed, as the registry stores them on a version."""
    return {f"{prefix}{key}": float(value) for key, value in metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)}
