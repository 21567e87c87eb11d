"""Evaluations: a registered model version scored on a dataset through the runtime, stored and
served (``/api/v1/evaluations``); numbers against scikit-learn on what the predict API answers,
and against the training jobs' own test metrics."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn import metrics as sk

from aiaas.auth.principal import Principal, Scope
from aiaas.builtin import DIAGNOSIS, EMBEDDER, ensure_builtins, train_breast_cancer
from aiaas.errors import Forbidden, NotFound
from aiaas.services import Services
from aiaas.training import datasets
from aiaas.training.evaluations import finite
from tests.conftest import Api
from tests.training.conftest import OBVIOUSLY_NEGATIVE, OBVIOUSLY_POSITIVE, PNG_SIGNATURE, _train

EVALUATOR = ("predict", "models:read")


async def evaluate(api: Api, key: str | None = None, status: int = 201, **body: Any) -> dict[str, Any]:
    response = await api.client.post("/api/v1/evaluations", json=body, headers=api.auth(key))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def breast_cancer() -> pd.DataFrame:
    table = datasets.Catalog().load("t", "builtin:breast_cancer")
    assert isinstance(table, datasets.Table)
    return table.frame


def breast_cancer_test_rows(seed: int = 0) -> tuple[list[dict[str, float]], np.ndarray[Any, Any]]:
    data = datasets.tabular(datasets.Catalog().load("t", "builtin:breast_cancer"),
                            datasets.CLASSIFICATION)
    split = datasets.split(data, seed=seed)
    records = [{n: float(v) for n, v in zip(data.feature_names, row, strict=True)}
               for row in split.x_test]
    return records, split.y_test


async def test_builtin_diagnosis_on_its_test_split_equals_sklearn_on_what_predict_answers(
        api: Api) -> None:
    ensure_builtins(api.services.registry, only=[DIAGNOSIS])
    key = api.new_key("clinic", scopes=list(EVALUATOR))
    result = await evaluate(api, key, model=DIAGNOSIS, dataset="builtin:breast_cancer")
    assert (result["model"], result["version"], result["dataset"], result["split"], result["task"]) == (
        DIAGNOSIS, 1, "builtin:breast_cancer", "test", "tabular-classification")
    assert result["params"] == {"seed": 0, "test_fraction": 0.2} and result["duration_ms"] > 0

    records, truth = breast_cancer_test_rows()
    assert result["rows"] == len(records) == result["metrics"]["samples"] == 114
    served = await api.client.post(f"/api/v1/models/{DIAGNOSIS}/predict", headers=api.auth(key),
                                   json={"inputs": records})
    assert served.status_code == 200, served.text
    outputs = served.json()["outputs"]
    predicted = np.asarray([output["label"] for output in outputs])
    metrics = result["metrics"]
    labels = metrics["confusion_matrix"]["labels"]
    assert labels == ["benign", "malignant"]
    scores = np.asarray([output["probabilities"]["malignant"] for output in outputs])
    assert metrics["accuracy"] == sk.accuracy_score(truth, predicted)
    assert metrics["precision_macro"] == sk.precision_score(truth, predicted, average="macro")
    assert metrics["recall_macro"] == sk.recall_score(truth, predicted, average="macro")
    assert metrics["f1_macro"] == sk.f1_score(truth, predicted, average="macro")
    assert metrics["roc_auc"] == sk.roc_auc_score(truth == "malignant", scores)
    assert metrics["confusion_matrix"]["matrix"] == sk.confusion_matrix(truth, predicted,
                                                                        labels=labels).tolist()
    per_class = sk.precision_recall_fscore_support(truth, predicted, labels=labels)
    for i, label in enumerate(labels):
        assert [metrics["per_class"][label][name] for name in ("precision", "recall", "f1", "support")
                ] == [per_class[0][i], per_class[1][i], per_class[2][i], per_class[3][i]]
    version = api.services.registry.resolve("clinic", DIAGNOSIS)
    assert metrics["accuracy"] == version.metrics["test_accuracy"]

    assert result["plots"] == ["confusion_matrix", "roc_curve", "feature_importance"]
    importance = metrics["feature_importance"]
    assert metrics["feature_importance_sample"] == {"rows": 114, "of": 114, "repeats": 5}
    assert set(importance) == set(records[0])
    means = [entry["mean"] for entry in importance.values()]
    assert means == sorted(means, reverse=True) and means[0] > 0
    model = api.services.registry.artifact_path(version) / "model.onnx"
    for name, mean in onnx_importance(model, records, truth).items():
        assert importance[name]["mean"] == pytest.approx(mean, abs=1e-6), name
    for name in result["plots"]:
        png = await api.client.get(f"/api/v1/evaluations/{result['id']}/plots/{name}.png",
                                   headers=api.auth(key))
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(png.content)) as image:
            image.verify()
            assert image.size[0] > 100 and image.size[1] > 100
    missing = await api.client.get(f"/api/v1/evaluations/{result['id']}/plots/forecast.png",
                                   headers=api.auth(key))
    assert missing.status_code == 404

    everything = await evaluate(api, key, model=DIAGNOSIS, version="production",
                                dataset="builtin:breast_cancer", split="all")
    assert everything["rows"] == 569 and everything["split"] == "all"
    # The explain call takes at most max_inputs rows: a seeded sample of 256.
    assert everything["metrics"]["feature_importance_sample"] == {"rows": 256, "of": 569,
                                                                  "repeats": 5}
    shown = await api.client.get(f"/api/v1/evaluations/{result['id']}", headers=api.auth(key))
    assert shown.status_code == 200 and shown.json() == result
    listed = await api.client.get("/api/v1/evaluations", headers=api.auth(key))
    assert [e["id"] for e in listed.json()["evaluations"]] == [everything["id"], result["id"]]
    other = await api.client.get("/api/v1/evaluations", params={"model": "something-else"},
                                 headers=api.auth(key))
    assert other.json()["evaluations"] == []

    # One usage row per chunk of max_inputs (256): 114 rows, then 569 = 256 + 256 + 57; and one
    # per permutation importance, counting every row predicted: 114 or 256 rows x (30 x 5 + 1).
    usage = await api.client.get("/api/v1/usage", headers=api.auth(key))
    rows = usage.json()["records"]
    assert sorted(r["units"]["items"] for r in rows if r["surface"] == "evaluation") == [
        57, 114, 256, 256, 114 * 151, 256 * 151]
    assert [r["units"]["items"] for r in rows if r["surface"] != "evaluation"] == [114]
    assert all(r["model"] == DIAGNOSIS and r["status"] == "ok" for r in rows)


def onnx_importance(model: Path, records: list[dict[str, float]], truth: np.ndarray[Any, Any]
                    ) -> dict[str, float]:
    """scikit-learn's permutation importance (seed 0, 5 repeats) of the ONNX graph run here
    with onnxruntime, not served: what the evaluation must find through the front door."""
    import onnxruntime
    from sklearn.inspection import permutation_importance

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])

    class Graph:
        def fit(self, *_args: Any) -> Graph:
            return self

        def predict(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
            labels: np.ndarray[Any, Any] = session.run(
                None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]
            return labels

    x = np.asarray([list(record.values()) for record in records])
    found = permutation_importance(Graph(), x, truth, n_repeats=5, random_state=0,
                                   scoring=lambda model, x, y: sk.accuracy_score(y, model.predict(x)))
    return {name: float(mean) for name, mean in zip(records[0], found.importances_mean, strict=True)}


async def test_scopes_and_other_tenants_are_404_like_missing(api: Api, tmp_path: Path) -> None:
    staged = tmp_path / "model"
    train_breast_cancer(staged)
    api.services.registry.register(staged, tenant="owner", name="diagnosis", created_by="test")
    csv = tmp_path / "cells.csv"
    breast_cancer().iloc[:60].to_csv(csv, index=False)
    api.services.datasets.add_file(csv, tenant="owner", created_by="test", name="cells")
    owner, stranger = api.new_key("owner", scopes=list(EVALUATOR)), api.new_key("stranger")

    mine = await evaluate(api, owner, model="diagnosis", dataset="cells", split="all")
    assert mine["rows"] == 60 and mine["dataset"] == "cells"

    for body in ({"model": "diagnosis", "dataset": "builtin:breast_cancer"},
                 {"model": "nothing-here", "dataset": "builtin:breast_cancer"}):
        refused = await evaluate(api, stranger, 404, **body)
        assert refused["error"]["code"] == "not_found"
        assert refused["error"]["message"] == f"model {body['model']!r} not found"
    ensure_builtins(api.services.registry, only=[DIAGNOSIS])
    for name in ("cells", "no-such-data"):
        refused = await evaluate(api, stranger, 404, model=DIAGNOSIS, dataset=name)
        assert refused["error"]["message"].startswith(f"dataset {name!r} not found")
    for path in (f"/api/v1/evaluations/{mine['id']}", f"/api/v1/evaluations/{'0' * 32}"):
        response = await api.client.get(path, headers=api.auth(stranger))
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    plot = await api.client.get(f"/api/v1/evaluations/{mine['id']}/plots/confusion_matrix.png",
                                headers=api.auth(stranger))
    assert plot.status_code == 404
    listed = await api.client.get("/api/v1/evaluations", headers=api.auth(stranger))
    assert listed.json()["evaluations"] == []

    reader = api.new_key("owner", scopes=["models:read"])
    predictor = api.new_key("owner", scopes=["predict"])
    for key, scope in ((reader, "predict"), (predictor, "models:read")):
        refused = await evaluate(api, key, 403, model="diagnosis", dataset="cells")
        assert scope in refused["error"]["message"]
    assert (await api.client.get(f"/api/v1/evaluations/{mine['id']}",
                                 headers=api.auth(reader))).status_code == 200


@pytest.mark.parametrize(("body", "named"), [
    ({"dataset": "builtin:iris"}, "dataset 'builtin:iris' lacks feature column(s) mean radius"),
    ({"dataset": "builtin:co2"}, "dataset 'builtin:co2' lacks feature column(s)"),
    ({"dataset": "builtin:breast_cancer", "params": {"label": "mean radius"}},
     "column 'mean radius' is a feature"),
    ({"dataset": "builtin:breast_cancer", "params": {"label": "diagnosis"}},
     "has no column 'diagnosis'; name its label column with params.label"),
    ({"dataset": "builtin:sentiment"}, "dataset 'builtin:sentiment' lacks feature column(s)"),
    ({"dataset": "builtin:breast_cancer", "params": {"bogus": 1}}, "params.bogus"),
    ({"dataset": "builtin:breast_cancer", "params": {"test_fraction": 0.9}}, "params.test_fraction"),
    ({"dataset": "builtin:breast_cancer", "split": "train"}, "split"),
    ({"dataset": "builtin:breast_cancer", "model": EMBEDDER}, "serves embedding; evaluations cover"),
])
async def test_incompatible_requests_are_422_naming_the_problem(api: Api, body: dict[str, Any],
                                                                named: str) -> None:
    ensure_builtins(api.services.registry, only=[DIAGNOSIS, EMBEDDER])
    refused = await evaluate(api, None, 422, **{"model": DIAGNOSIS, **body})
    assert named in refused["error"]["message"] or named in str(refused["error"]["details"]), refused
    assert (await api.client.get("/api/v1/evaluations", headers=api.auth())).json()["evaluations"] == []
    assert not (api.services.settings.data_dir / "evaluations").exists() or not any(
        (api.services.settings.data_dir / "evaluations").iterdir())


async def test_a_row_the_model_refuses_is_named_and_the_row_cap_holds(api: Api, tmp_path: Path) -> None:
    ensure_builtins(api.services.registry, only=[DIAGNOSIS])
    frame = breast_cancer().iloc[:40].copy()
    frame.loc[frame.index[29], "mean area"] = np.nan
    csv = tmp_path / "holes.csv"
    frame.to_csv(csv, index=False)
    api.services.datasets.add_file(csv, tenant="default", created_by="test", name="holes")
    refused = await evaluate(api, None, 422, model=DIAGNOSIS, dataset="holes", split="all")
    assert refused["error"]["message"] == "dataset 'holes' row 30: feature 'mean area' must be finite"
    assert refused["error"]["details"]["row"] == 30

    api.services.evaluations.max_rows = 100
    refused = await evaluate(api, None, 422, model=DIAGNOSIS, dataset="builtin:breast_cancer", split="all")
    assert "has 569 rows; an evaluation takes at most 100" in refused["error"]["message"]
    assert refused["error"]["details"] == {"field": "dataset", "limit": 100}


def test_reading_results_checks_the_callers_scope(services: Services) -> None:
    """The evaluation service checks scopes itself (a missing scope before a missing id)."""
    evaluations = services.evaluations
    predictor = Principal("t", "k", frozenset({Scope.PREDICT}))
    for read in (lambda: evaluations.list_evaluations(predictor),
                 lambda: evaluations.get(predictor, "0" * 32),
                 lambda: evaluations.plot(predictor, "0" * 32, "roc_curve")):
        with pytest.raises(Forbidden, match="'models:read' scope"):
            read()
    reader = Principal("t", "k", frozenset({Scope.MODELS_READ}))
    assert evaluations.list_evaluations(reader) == []
    with pytest.raises(NotFound):
        evaluations.get(reader, "0" * 32)


def test_undefined_metrics_become_null() -> None:
    assert finite({"r2": math.nan, "x": [1.0, math.inf], "n": 3}) == {"r2": None, "x": [1.0, None], "n": 3}


async def test_jobs_evaluated_again_give_their_own_test_metrics(train_api: Api) -> None:
    """A model trained by a job, evaluated on the same dataset with the job's seed and
    test_fraction: the job's test metrics, from the served model."""
    wine = await _train(train_api, task="tabular-classification", dataset="builtin:wine", name="wine",
                        params={"algorithm": "random_forest", "n_estimators": 20, "seed": 5,
                                "test_fraction": 0.3})
    diabetes = await _train(train_api, task="tabular-regression", dataset="builtin:diabetes",
                            name="diabetes", params={"algorithm": "linear", "seed": 2})
    co2 = await _train(train_api, task="forecasting", dataset="builtin:co2", name="co2",
                       params={"algorithm": "linear", "horizon": 26})
    digits = await _train(train_api, task="image-classification", dataset="builtin:digits",
                          name="digits", params={"epochs": 1, "seed": 1})
    for job in (wine, diabetes, co2, digits):
        assert job["status"] == "succeeded", job

    result = await evaluate(train_api, model="wine", dataset="builtin:wine",
                            params={"seed": 5, "test_fraction": 0.3, "validation_fraction": 0.1})
    assert result["rows"] == wine["result"]["split"]["test"] == 54
    _same(result["metrics"], wine["metrics"], exact=("accuracy", "f1_macro", "per_class",
                                                     "confusion_matrix"))
    assert result["plots"] == ["confusion_matrix", "feature_importance"]
    # The served model's importance on the job's test rows, with the job's seed: the job's own,
    # but for classes tied in a forest's votes, which ONNX Runtime's float32 sums break in a
    # thread-dependent order (a few of the 270 shuffled predictions per feature).
    evaluated, trained = result["metrics"]["feature_importance"], wine["result"]["feature_importance"]
    assert set(evaluated) == set(trained) and list(evaluated)[:3] == list(trained)[:3]
    for name, entry in trained.items():
        assert evaluated[name]["mean"] == pytest.approx(entry["mean"], abs=0.02), name

    result = await evaluate(train_api, model="diabetes", dataset="builtin:diabetes", params={"seed": 2})
    _same(result["metrics"], diabetes["metrics"], exact=("samples",))
    assert result["plots"] == ["predicted_vs_actual", "feature_importance"]
    evaluated, trained = result["metrics"]["feature_importance"], diabetes["result"]["feature_importance"]
    assert list(evaluated) == list(trained)  # a linear model: the same numbers, to rounding
    for name, entry in trained.items():
        assert evaluated[name] == pytest.approx(entry, abs=2e-6), name
    shifted = await evaluate(train_api, model="diabetes", dataset="builtin:diabetes", params={"seed": 3})
    assert shifted["metrics"]["mae"] != result["metrics"]["mae"]

    result = await evaluate(train_api, model="co2", dataset="builtin:co2")
    assert result["rows"] == 26 and result["plots"] == ["forecast"]
    assert "feature_importance" not in result["metrics"]
    _same(result["metrics"], co2["metrics"], exact=("samples",))
    assert result["metrics"]["forecast"]["timestamps"] == co2["metrics"]["forecast"]["timestamps"]
    short = await evaluate(train_api, model="co2", dataset="builtin:co2", params={"horizon": 4})
    assert short["rows"] == 4 and short["metrics"]["forecast"]["timestamps"][0] == "2001-12-08"
    for body, named in (({"params": {"horizon": 27}}, "forecasts at most 26 steps"),
                        ({"split": "all"}, "split 'all' does not apply"),
                        ({"dataset": "builtin:diabetes"}, "has no timestamp column; name its "
                                                          "timestamp column with params.timestamp"),
                        ({"params": {"value": "date"}}, "both name column 'date'")):
        refused = await evaluate(train_api, None, 422, **{"model": "co2", "dataset": "builtin:co2", **body})
        assert named in refused["error"]["message"], refused

    result = await evaluate(train_api, model="digits", dataset="builtin:digits", params={"seed": 1})
    assert result["rows"] == digits["result"]["split"]["test"] == 360
    _same(result["metrics"], digits["metrics"], exact=("accuracy", "confusion_matrix"))
    assert result["plots"] == ["confusion_matrix"]
    refused = await evaluate(train_api, None, 422, model="digits", dataset="builtin:iris")
    assert "is evaluated on images" in refused["error"]["message"]

    png = await train_api.client.get(f"/api/v1/evaluations/{short['id']}/plots/forecast.png",
                                     headers=train_api.auth())
    assert png.status_code == 200 and png.content.startswith(PNG_SIGNATURE)


def _same(evaluated: dict[str, Any], trained: dict[str, Any], exact: tuple[str, ...]) -> None:
    """Every metric the job stored, equal in the evaluation (floats to 1e-9: onnxruntime may sum
    in another order with another thread count); ``exact`` ones exactly."""
    for name, value in trained.items():
        if name == "forecast":
            continue
        if name in exact or not isinstance(value, float):
            assert evaluated[name] == value, name
        else:
            assert evaluated[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


async def test_a_text_job_evaluated_again_gives_its_test_metrics(train_api: Api, tmp_path: Path) -> None:
    ensure_builtins(train_api.services.registry, only=[EMBEDDER])
    csv = tmp_path / "moods.csv"
    csv.write_text("text,label\n" + "".join(f"review number {i},{('positive', 'neutral')[i % 2]}\n"
                                             for i in range(8)))
    train_api.services.datasets.add_file(csv, tenant="default", created_by="test", name="moods")
    job = await _train(train_api, task="text-classification", dataset="builtin:sentiment",
                       name="sentiment", params={"seed": 4, "test_fraction": 0.25,
                                                 "explain_texts": 0})  # the job's are tested apart
    assert job["status"] == "succeeded", job
    assert "influential_words" not in job["result"] and "influential_words" not in job["result"]["plots"]
    result = await evaluate(train_api, model="sentiment", dataset="builtin:sentiment",
                            params={"seed": 4, "test_fraction": 0.25})
    assert result["rows"] == job["result"]["split"]["test"] == 260
    _same(result["metrics"], job["metrics"], exact=("accuracy", "f1_macro", "confusion_matrix"))
    assert result["plots"] == ["confusion_matrix", "roc_curve", "influential_words"]
    # Global explanation through the front door: the words pushing towards each class, on a
    # seeded sample of 64 of the 260 test reviews.
    metrics = result["metrics"]
    assert metrics["influential_words_sample"] == {"texts": 64, "of": 260}
    found = metrics["influential_words"]
    positive = [entry["word"] for entry in found["positive"]]
    assert set(positive) & OBVIOUSLY_POSITIVE and not set(positive) & OBVIOUSLY_NEGATIVE, found
    assert all(entry["texts"] >= 2 and entry["attribution"] > 0 for entry in found["negative"])
    png = await train_api.client.get(f"/api/v1/evaluations/{result['id']}/plots/influential_words.png",
                                     headers=train_api.auth())
    assert png.status_code == 200 and png.content.startswith(PNG_SIGNATURE)
    usage = (await train_api.client.get("/api/v1/usage", headers=train_api.auth())).json()["records"]
    explained = [r["units"]["items"] for r in usage if r["surface"] == "evaluation"
                 and r["units"]["items"] not in (256, 4)]  # the predict chunks: 260 = 256 + 4
    assert len(explained) == 1 and 64 * 10 < explained[0] <= 64 * 64, explained
    for body, named in (({"params": {"text": "review"}}, "has no column 'review'; name its text column"),
                        ({"params": {"text": "label"}}, "both name column 'label'"),
                        ({"dataset": "builtin:digits"}, "has no text column"),
                        ({"dataset": "moods"}, "dataset 'moods' has labels model 'sentiment' "
                                               "does not know: 'neutral'; its labels are")):
        refused = await evaluate(train_api, None, 422,
                                 **{"model": "sentiment", "dataset": "builtin:sentiment", **body})
        assert named in refused["error"]["message"], refused


async def test_integer_classes_match_a_numeric_label_column(api: Api, tmp_path: Path) -> None:
    """A classifier of integer classes (labels "0", "1", "2") on an upload whose label column is
    numeric, written 0.0, 1.0, 2.0."""
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    x = iris.data.astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(x, iris.target)
    staged = tmp_path / "model"
    staged.mkdir()
    (staged / "model.onnx").write_bytes(to_onnx(model, x[:1], options={"zipmap": False}).SerializeToString())
    manifest = {"task": "tabular-classification", "labels": ["0", "1", "2"],
                "feature_names": ["a", "b", "c", "d"]}
    (staged / "aiaas.json").write_text(json.dumps(manifest))
    api.services.registry.register(staged, tenant="default", name="iris-ints", created_by="test")
    frame = pd.DataFrame(iris.data, columns=["a", "b", "c", "d"]).assign(species=iris.target.astype(float))
    frame.to_csv(tmp_path / "flowers.csv", index=False)
    api.services.datasets.add_file(tmp_path / "flowers.csv", tenant="default", created_by="test",
                                   label="species")
    result = await evaluate(api, model="iris-ints", dataset="flowers", split="all")
    predicted = model.predict(x).astype(str)
    truth = iris.target.astype(str)
    assert result["metrics"]["confusion_matrix"]["labels"] == ["0", "1", "2"]
    assert result["metrics"]["accuracy"] == sk.accuracy_score(truth, predicted)
    assert result["metrics"]["f1_macro"] == sk.f1_score(truth, predicted, average="macro")
