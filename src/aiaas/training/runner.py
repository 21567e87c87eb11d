"""Run one claimed tabular job: split, train, export to ONNX, evaluate on the test split, draw the
plots, register the version and apply the deploy gate. Runs inside the worker process.

The model is evaluated through the exported ONNX graph with the same decision the serving
backend makes (the most probable label), so the stored metrics describe what the API serves.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.registry.records import PRODUCTION
from aiaas.registry.service import Registry
from aiaas.training import datasets, evaluation, gate, plots
from aiaas.training.datasets import CLASSIFICATION
from aiaas.training.jobs import JobInfo, jobs_dir
from aiaas.training.trainers.tabular import Progress, Trained, train, validate_params


@dataclass
class Outcome:
    version: int
    metrics: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)


def _export(trained: Trained, data: datasets.TabularDataset, target: Path) -> None:
    from skl2onnx import to_onnx

    options = {"zipmap": False} if data.task == CLASSIFICATION else None
    onnx_model = to_onnx(trained.estimator, data.x[:1], options=options, target_opset=17)
    target.mkdir(parents=True, exist_ok=True)
    (target / "model.onnx").write_bytes(onnx_model.SerializeToString())


def _onnx_outputs(path: Path, x: np.ndarray[Any, Any]) -> list[Any]:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    result: list[Any] = session.run(None, {session.get_inputs()[0].name: x})
    return result


def _evaluate(trained: Trained, split: datasets.Split, task: str, staged: Path,
              plot_dir: Path) -> tuple[dict[str, Any], list[str]]:
    outputs = _onnx_outputs(staged / "model.onnx", split.x_test)
    if task != CLASSIFICATION:
        predicted = np.asarray(outputs[0], dtype=np.float64).reshape(len(split.x_test), -1)[:, 0]
        metrics = evaluation.regression(split.y_test, predicted)
        plots.predicted_vs_actual(split.y_test, predicted, plot_dir / "predicted_vs_actual.png")
        names = ["predicted_vs_actual"]
    else:
        labels = [str(label) for label in trained.estimator.classes_]
        probabilities = np.asarray(outputs[1], dtype=np.float64).reshape(len(split.x_test), len(labels))
        predicted = np.asarray(labels)[probabilities.argmax(axis=1)]
        metrics = evaluation.classification(split.y_test, predicted, labels, probabilities)
        plots.confusion_matrix(metrics["confusion_matrix"]["matrix"], labels,
                               plot_dir / "confusion_matrix.png")
        names = ["confusion_matrix"]
        if "roc_auc" in metrics:
            plots.roc_curve(split.y_test == labels[1], probabilities[:, 1], metrics["roc_auc"],
                            plot_dir / "roc_curve.png")
            names.append("roc_curve")
    if trained.curves:
        plots.training_curve(trained.curves, plot_dir / "training_curve.png")
        names.append("training_curve")
    return metrics, names


def run(job: JobInfo, registry: Registry, data_dir: Path, progress: Progress) -> Outcome:
    params = validate_params(job.task, job.params)
    data = datasets.load(job.dataset)
    split = datasets.split(data, seed=params.seed, test_fraction=params.test_fraction,
                           validation_fraction=params.validation_fraction)
    progress("split", train=len(split.y_train), validation=len(split.y_val), test=len(split.y_test))
    trained = train(split, job.task, params, progress)
    staged = registry.store.staging_dir()
    try:
        _export(trained, data, staged)
        metrics, plot_names = _evaluate(trained, split, job.task, staged,
                                        jobs_dir(data_dir) / job.id)
        progress("evaluated", **evaluation.scalars(metrics))
        (staged / "aiaas.json").write_text(json.dumps({
            "task": job.task,
            "description": f"{trained.algorithm} trained on {job.dataset} by job {job.id}",
            "feature_names": data.feature_names,
            **({"labels": [str(c) for c in trained.estimator.classes_]}
               if job.task == CLASSIFICATION else {}),
            "metrics": evaluation.scalars(metrics),
        }))
        version = registry.register(staged, tenant=job.tenant, name=job.model, created_by=job.key_id,
                                    move=True, metrics=evaluation.scalars(metrics))
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    result: dict[str, Any] = {"algorithm": trained.algorithm, "cv_scores": trained.cv_scores,
                              "plots": plot_names, "split": {"train": len(split.y_train),
                              "validation": len(split.y_val), "test": len(split.y_test)}}
    result.update(_promote(job, registry, version.version, metrics))
    return Outcome(version.version, metrics, result)


def _promote(job: JobInfo, registry: Registry, version: int, metrics: dict[str, Any]) -> dict[str, Any]:
    """Apply ``promote_if``; without it the registry's own rule stands (the first version only)."""
    if job.promote_if is None:
        first = version == 1
        return {"promoted": first, "promotion_reason": "first version of the model" if first
                else "no promote_if given; production alias left as it was"}
    holds, why = gate.parse(job.promote_if, job.task).check(metrics)
    if holds:
        registry.set_alias(job.tenant, job.model, PRODUCTION, version)
    elif version == 1:
        why += " (the first version of a model gets the production alias regardless)"
    return {"promoted": holds, "promotion_reason": why}
