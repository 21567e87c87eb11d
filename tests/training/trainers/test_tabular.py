"""Tabular training through the HTTP API with the embedded worker running as a separate process:
classification (auto algorithm choice, gate, plots) and regression against sklearn; a dataset
without a label column needs one named."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn import metrics as sk

from aiaas.errors import Invalid
from aiaas.services import Services
from aiaas.training import datasets
from tests.conftest import Api
from tests.training.conftest import CALLER, PNG_SIGNATURE, _train
from tests.training.datasets.conftest import _add


def _records(split: datasets.Split, names: list[str]) -> list[dict[str, float]]:
    return [{n: float(v) for n, v in zip(names, row, strict=True)} for row in split.x_test]


async def test_breast_cancer_auto_trains_evaluates_serves_and_plots(train_api: Api) -> None:
    job = await _train(train_api, task="tabular-classification", dataset="builtin:breast_cancer",
                       name="cancer", params={"algorithm": "auto", "seed": 0},
                       promote_if="accuracy>=0.95")
    assert job["status"] == "succeeded", job
    metrics, result = job["metrics"], job["result"]
    assert metrics["accuracy"] >= 0.95
    assert set(result["cv_scores"]) == {"logistic", "random_forest", "gradient_boosting"}
    assert result["algorithm"] == max(result["cv_scores"], key=result["cv_scores"].get)
    assert result["promoted"] is True and result["promotion_reason"].startswith("accuracy 0.9")
    assert ">= 0.95" in result["promotion_reason"]
    stages = [data["stage"] for kind, data in job["events"] if kind == "progress"]
    assert stages[0] == "split" and "cross_validation" in stages and stages[-1] == "evaluated"
    assert any("eta_s" in data for _, data in job["events"])

    data = datasets.tabular(datasets.Catalog().load("t", "builtin:breast_cancer"), datasets.CLASSIFICATION)
    split = datasets.split(data, seed=0)
    assert result["split"]["test"] == len(split.y_test) == metrics["samples"]
    response = await train_api.client.post(
        "/api/v1/models/cancer/predict", headers=train_api.auth(),
        json={"inputs": _records(split, data.feature_names)},
    )
    assert response.status_code == 200, response.text
    assert response.json()["version"] == job["version"] == 1
    outputs = response.json()["outputs"]
    predicted = np.asarray([out["label"] for out in outputs])
    labels = metrics["confusion_matrix"]["labels"]
    scores = np.asarray([out["probabilities"][labels[1]] for out in outputs])
    assert metrics["accuracy"] == sk.accuracy_score(split.y_test, predicted)
    assert metrics["f1_macro"] == sk.f1_score(split.y_test, predicted, average="macro")
    assert metrics["precision_macro"] == sk.precision_score(split.y_test, predicted, average="macro")
    assert metrics["recall_macro"] == sk.recall_score(split.y_test, predicted, average="macro")
    assert metrics["confusion_matrix"]["matrix"] == sk.confusion_matrix(
        split.y_test, predicted, labels=labels).tolist()
    assert metrics["roc_auc"] == pytest.approx(sk.roc_auc_score(split.y_test == labels[1], scores),
                                               abs=1e-6)
    per_class = sk.f1_score(split.y_test, predicted, average=None, labels=labels)
    assert [metrics["per_class"][label]["f1"] for label in labels] == per_class.tolist()

    version = (await train_api.client.get("/api/v1/models/cancer/versions/1",
                                          headers=train_api.auth())).json()
    assert version["metrics"]["test_accuracy"] == metrics["accuracy"]

    assert set(result["plots"]) == {"confusion_matrix", "roc_curve", "feature_importance"}
    # Global explanation: scikit-learn's permutation importance on the test split, best first.
    importance = result["feature_importance"]
    assert set(importance) == set(data.feature_names) and len(importance) == 30
    means = [entry["mean"] for entry in importance.values()]
    assert means == sorted(means, reverse=True) and means[0] > 0
    for name in result["plots"]:
        png = await train_api.client.get(f"/api/v1/jobs/{job['id']}/plots/{name}.png",
                                         headers=train_api.auth())
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(png.content)) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 0 and image.size[1] > 0
    missing = await train_api.client.get(f"/api/v1/jobs/{job['id']}/plots/training_curve.png",
                                         headers=train_api.auth())
    assert missing.status_code == 404

    logs = await train_api.client.get(f"/api/v1/jobs/{job['id']}/logs", headers=train_api.auth())
    assert "cross_validation" in logs.text and "succeeded" in logs.text


async def test_diabetes_regression_reports_sklearn_metrics(train_api: Api) -> None:
    job = await _train(train_api, task="tabular-regression", dataset="builtin:diabetes",
                       name="diabetes", params={"algorithm": "gradient_boosting", "n_estimators": 30,
                                                "seed": 3}, promote_if="rmse<=1")
    assert job["status"] == "succeeded", job
    result, metrics = job["result"], job["metrics"]
    assert result["promoted"] is False and result["promotion_reason"].startswith("not rmse")
    assert set(result["plots"]) == {"predicted_vs_actual", "training_curve", "feature_importance"}
    data = datasets.tabular(datasets.Catalog().load("t", "builtin:diabetes"), datasets.REGRESSION)
    split = datasets.split(data, seed=3)
    response = await train_api.client.post(
        "/api/v1/models/diabetes/predict", headers=train_api.auth(),
        json={"inputs": _records(split, data.feature_names)},
    )
    predicted = np.asarray([out["value"] for out in response.json()["outputs"]])
    # The served ONNX tree ensemble sums in float32 over a thread-dependent order: the served
    # values may differ from the worker's in the 7th digit, not more.
    assert metrics["mae"] == pytest.approx(sk.mean_absolute_error(split.y_test, predicted), rel=1e-6)
    assert metrics["rmse"] == pytest.approx(sk.root_mean_squared_error(split.y_test, predicted),
                                            rel=1e-6)
    assert metrics["r2"] == pytest.approx(sk.r2_score(split.y_test, predicted), rel=1e-6)
    assert metrics["samples"] == len(split.y_test)


def test_a_dataset_without_a_label_needs_one_named_for_training(quiet_services: Services,
                                                                tmp_path: Path) -> None:
    _add(quiet_services.datasets, tmp_path, "nolabel.csv", "x,z\n1,2\n3,4\n5,6\n")
    with pytest.raises(Invalid) as caught:
        quiet_services.jobs.create(CALLER, task="tabular-classification",
                                   dataset="nolabel", name="m", params={})
    assert caught.value.details == {"field": "params.label"}
    assert "has no label column None" in caught.value.message
