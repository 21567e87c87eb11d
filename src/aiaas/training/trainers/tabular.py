"""Tabular trainers: logistic / linear regression, random forest, gradient boosting, and ``auto``.

``auto`` scores every candidate by k-fold cross-validation on the training split only (accuracy
for classification, RMSE for regression) and refits the best on the whole training split. The
``progress`` callback is called at every fold and fit; it raises to cancel the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiaas.errors import Invalid
from aiaas.training.datasets import CLASSIFICATION, Split

Progress = Callable[..., None]
"""``progress(stage, step=, total=, **values)``; may raise to stop the job."""

CANDIDATES = {
    CLASSIFICATION: ("logistic", "random_forest", "gradient_boosting"),
    "tabular-regression": ("linear", "random_forest", "gradient_boosting"),
}


class TabularParams(BaseModel):
    """Hyperparameters with defaults; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    algorithm: Literal["auto", "logistic", "linear", "random_forest", "gradient_boosting"] = "auto"
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    cv_folds: int = Field(default=3, ge=2, le=10)
    n_estimators: int = Field(default=100, ge=1, le=2000)
    max_depth: int | None = Field(default=None, ge=1, le=64)
    learning_rate: float = Field(default=0.1, gt=0, le=1)
    c: float = Field(default=1.0, gt=0, le=1e6, description="Inverse regularisation (logistic).")
    test_fraction: float = Field(default=0.2, ge=0.05, le=0.5)
    validation_fraction: float = Field(default=0.1, ge=0.0, le=0.4)


def validate_params(task: str, params: dict[str, Any]) -> TabularParams:
    """Check ``params`` for ``task``; ``Invalid`` naming the parameter otherwise."""
    try:
        checked = TabularParams.model_validate(params)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "params"
        raise Invalid(f"params.{where}: {first['msg']}",
                      details={"field": f"params.{where}"}) from exc
    if checked.algorithm != "auto" and checked.algorithm not in CANDIDATES[task]:
        raise Invalid(f"params.algorithm: {checked.algorithm!r} does not fit {task}; use one of "
                      f"auto, {', '.join(CANDIDATES[task])}", details={"field": "params.algorithm"})
    return checked


@dataclass
class Trained:
    estimator: Any
    algorithm: str
    cv_scores: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[float]] = field(default_factory=dict)


def build(algorithm: str, task: str, params: TabularParams) -> Any:
    from sklearn import ensemble, linear_model
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    seed, classify = params.seed, task == CLASSIFICATION
    if algorithm == "logistic":
        return make_pipeline(StandardScaler(), linear_model.LogisticRegression(
            C=params.c, max_iter=5000, random_state=seed))
    if algorithm == "linear":
        return make_pipeline(StandardScaler(), linear_model.LinearRegression())
    trees = {"n_estimators": params.n_estimators, "max_depth": params.max_depth, "random_state": seed}
    if algorithm == "random_forest":
        forest = ensemble.RandomForestClassifier if classify else ensemble.RandomForestRegressor
        return forest(**trees)
    boosting = ensemble.GradientBoostingClassifier if classify else ensemble.GradientBoostingRegressor
    return boosting(**{**trees, "max_depth": params.max_depth or 3},
                    learning_rate=params.learning_rate)


def _score(task: str, y_true: np.ndarray[Any, Any], y_pred: np.ndarray[Any, Any]) -> float:
    """Higher is better: accuracy, or minus RMSE."""
    if task == CLASSIFICATION:
        return float(np.mean(y_true == y_pred))
    return -float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def _select(data: Split, task: str, params: TabularParams, progress: Progress) -> dict[str, float]:
    """Mean cross-validated score of each candidate, on the training split only."""
    from sklearn.base import clone
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter_type = StratifiedKFold if task == CLASSIFICATION else KFold
    folds = list(splitter_type(params.cv_folds, shuffle=True, random_state=params.seed)
                 .split(data.x_train, data.y_train))
    candidates = CANDIDATES[task]
    total, step, started = len(candidates) * len(folds) + 1, 0, time.monotonic()
    scores: dict[str, float] = {}
    for algorithm in candidates:
        prototype, fold_scores = build(algorithm, task, params), []
        for fit_idx, score_idx in folds:
            model = clone(prototype).fit(data.x_train[fit_idx], data.y_train[fit_idx])
            fold_scores.append(_score(task, data.y_train[score_idx], model.predict(data.x_train[score_idx])))
            step += 1
            elapsed = time.monotonic() - started
            progress("cross_validation", step=step, total=total, candidate=algorithm,
                     fold=len(fold_scores), cv_score=fold_scores[-1],
                     eta_s=round(elapsed / step * (total - step), 2))
        scores[algorithm] = float(np.mean(fold_scores))
    return scores


def train(data: Split, task: str, params: TabularParams, progress: Progress) -> Trained:
    scores: dict[str, float] = {}
    algorithm: str = params.algorithm
    if algorithm == "auto":
        scores = _select(data, task, params, progress)
        algorithm = max(scores, key=lambda name: scores[name])
        progress("selected", algorithm=algorithm, cv_score=scores[algorithm])
    estimator = build(algorithm, task, params).fit(data.x_train, data.y_train)
    trained = Trained(estimator, algorithm, scores)
    if hasattr(estimator, "train_score_"):
        trained.curves["train loss"] = [float(v) for v in estimator.train_score_]
        if len(data.y_val):
            trained.curves["validation " + ("accuracy" if task == CLASSIFICATION else "RMSE")] = [
                abs(_score(task, data.y_val, staged)) for staged in estimator.staged_predict(data.x_val)
            ]
    values = {}
    if len(data.y_val):
        values["validation_score"] = abs(_score(task, data.y_val, estimator.predict(data.x_val)))
    progress("fit", algorithm=algorithm, **values)
    return trained
