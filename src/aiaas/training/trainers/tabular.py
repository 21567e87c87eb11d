"""Tabular trainers: logistic / linear regression, random forest, gradient boosting, and ``auto``.

``auto`` scores every candidate by k-fold cross-validation on the training split only (accuracy
for classification, RMSE for regression) and refits the best on the whole training split. The
``progress`` callback is called at every fold and fit; it raises to cancel the job. The result is
exported to ONNX and evaluated by opening the directory as the server does (``open_directory``)
and running the test split through the serving backend, so the stored metrics describe what the
API serves.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from aiaas.errors import Invalid
from aiaas.tasks.outputs import Classification
from aiaas.tasks.tabular import write_background
from aiaas.training import evaluation, global_explain, plots
from aiaas.training.datasets import CLASSIFICATION, REGRESSION, DatasetInfo, Split, split, tabular
from aiaas.training.trainers.base import Progress, TrainContext, TrainerSpec, TrainResult

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
    label: str | None = Field(default=None, max_length=200,
                              description="Target column (default: the dataset's label column).")


def check_algorithm(task: str, params: TabularParams) -> None:
    if params.algorithm != "auto" and params.algorithm not in CANDIDATES[task]:
        raise Invalid(f"params.algorithm: {params.algorithm!r} does not fit {task}; use one of "
                      f"auto, {', '.join(CANDIDATES[task])}", details={"field": "params.algorithm"})


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


def _export(trained: Trained, x_sample: np.ndarray[Any, Any], task: str, target: Path) -> None:
    from skl2onnx import to_onnx

    options = {"zipmap": False} if task == CLASSIFICATION else None
    onnx_model = to_onnx(trained.estimator, x_sample, options=options, target_opset=17)
    (target / "model.onnx").write_bytes(onnx_model.SerializeToString())


def _evaluate(trained: Trained, data: Split, task: str, ctx: TrainContext, *,
              feature_names: list[str], seed: int) -> TrainResult:
    """Metrics, plots and permutation importance of the staged directory opened as the server
    opens it (``open_directory``), so a job and an evaluation of its model on the same rows
    agree: a tree ensemble's ONNX export may break a tie between classes differently."""
    from aiaas.runtime.backends import open_directory

    backend = open_directory(ctx.staged, task, threads=1)

    def served(x: np.ndarray[Any, Any]) -> list[Any]:
        return [prediction.output for prediction in backend.predict_batch(list(x), {})]

    try:
        outputs = served(data.x_test)
        importance = global_explain.feature_importance(
            lambda x: global_explain.predictions(served(x), classify=task == CLASSIFICATION),
            data.x_test, data.y_test, classify=task == CLASSIFICATION, features=feature_names,
            seed=seed)
    finally:
        backend.unload()
    if task != CLASSIFICATION:
        predicted = np.asarray([output["value"] for output in outputs], dtype=np.float64)
        metrics = evaluation.regression(data.y_test, predicted)
        plots.predicted_vs_actual(data.y_test, predicted, ctx.plot_dir / "predicted_vs_actual.png")
        names = ["predicted_vs_actual"]
    else:
        labels = [str(label) for label in trained.estimator.classes_]
        classified: list[Classification] = outputs
        probabilities = np.asarray([[output.probabilities[label] for label in labels]
                                    for output in classified], dtype=np.float64)
        predicted = np.asarray([output.label for output in classified])
        metrics = evaluation.classification(data.y_test, predicted, labels, probabilities)
        names = plots.classification(metrics, labels, data.y_test, probabilities, ctx.plot_dir)
    if trained.curves:
        plots.training_curve(trained.curves, ctx.plot_dir / "training_curve.png")
        names.append("training_curve")
    plots.feature_importance(importance, ctx.plot_dir / "feature_importance.png")
    names.append("feature_importance")
    return TrainResult(metrics, names, details={"feature_importance": importance})


def run(ctx: TrainContext) -> TrainResult:
    task, params = ctx.job.task, ctx.params
    data = tabular(ctx.dataset, task, params.label)
    parts = split(data, seed=params.seed, test_fraction=params.test_fraction,
                  validation_fraction=params.validation_fraction)
    ctx.progress("split", train=len(parts.y_train), validation=len(parts.y_val),
                 test=len(parts.y_test))
    trained = train(parts, task, params, ctx.progress)
    _export(trained, data.x[:1], task, ctx.staged)
    write_background(ctx.staged, parts.x_train, seed=params.seed)
    about = {"task": task,
             "description": f"{trained.algorithm} trained on {ctx.job.dataset} by job {ctx.job.id}",
             "feature_names": data.feature_names}
    labels = {"labels": [str(c) for c in trained.estimator.classes_]} if task == CLASSIFICATION else {}
    ctx.write_manifest(**about, **labels)
    result = _evaluate(trained, parts, task, ctx, feature_names=data.feature_names,
                       seed=params.seed)
    ctx.write_manifest(**about, metrics=evaluation.scalars(result.metrics), **labels)
    result.details = {**result.details, "algorithm": trained.algorithm, "cv_scores": trained.cv_scores,
                      "split": {"train": len(parts.y_train), "validation": len(parts.y_val),
                                "test": len(parts.y_test)}}
    return result


def _check(task: str) -> Any:
    def check(info: DatasetInfo, params: TabularParams) -> None:
        check_algorithm(task, params)
        if info.kind != "table":
            raise Invalid(f"{task} trains on a table; dataset {info.id!r} is a set of images",
                          details={"field": "dataset"})
        label = params.label or info.label
        if label is None or label not in info.columns:
            raise Invalid(f"dataset {info.id!r} has no label column {label!r}; name one with "
                          "params.label", details={"field": "params.label"})
        if task == REGRESSION and info.columns[label] != "number":
            raise Invalid(f"{task} needs a numeric target; column {label!r} is not numeric",
                          details={"field": "params.label"})
    return check


SPECS = [
    TrainerSpec(CLASSIFICATION, evaluation.SCALARS_CLASSIFICATION, TabularParams, run,
                _check(CLASSIFICATION), "scikit-learn classifiers, exported to ONNX"),
    TrainerSpec(REGRESSION, evaluation.SCALARS_REGRESSION, TabularParams, run,
                _check(REGRESSION), "scikit-learn regressors, exported to ONNX"),
]
