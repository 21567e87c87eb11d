"""Text classification training: the embedding head on all-MiniLM-L6-v2 and fine-tuning of a
tiny random BERT, on small tables built here (served as built-in datasets for the test), driven
through the job service and an in-process worker; refused requests over the API."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import torch
from asgi_lifespan import LifespanManager
from sklearn import metrics as sk

from aiaas.api.app import create_app
from aiaas.auth.principal import DEFAULT_SCOPES, Principal
from aiaas.builtin import EMBEDDER, ensure_builtins
from aiaas.config import Settings
from aiaas.services import Services
from aiaas.training import datasets, runner
from aiaas.training.datasets.builtin import Builtin
from aiaas.training.trainers import spec_for
from aiaas.training.trainers.text import split_texts
from aiaas.training.worker import JobCancelled, Worker
from tests.conftest import Api
from tests.runtime.tiny_models import wordpiece_tokenizer
from tests.training.conftest import OBVIOUSLY_NEGATIVE, OBVIOUSLY_POSITIVE, PNG_SIGNATURE, job_events

TASK = "text-classification"
GOOD = ["great", "wonderful", "lovely", "excellent", "delightful", "fantastic"]
BAD = ["awful", "terrible", "horrible", "dreadful", "disgusting", "miserable"]
THINGS = ["the film", "the meal", "our stay", "the service", "the concert", "this phone",
          "the hotel room", "the book"]

CALLER = Principal("default", "k", frozenset(DEFAULT_SCOPES))


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    torch.set_num_threads(1)


def reviews(rows: int, seed: int = 0) -> pd.DataFrame:
    """Short reviews whose sentiment is carried by one adjective; alternating labels."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(rows):
        positive = i % 2 == 0
        word = rng.choice(GOOD if positive else BAD)
        texts.append(f"{rng.choice(THINGS)} was {word}")
        labels.append("positive" if positive else "negative")
    return pd.DataFrame({"review": texts, "sentiment": labels})


def table(monkeypatch: pytest.MonkeyPatch, frame: pd.DataFrame, columns: dict[str, str],
          label: str | None, tasks: tuple[str, ...] = (TASK,), split_column: str | None = None
          ) -> str:
    """Serve ``frame`` as a built-in dataset for this test; returns its id."""
    name = f"test_{uuid.uuid4().hex[:10]}"
    dataset_id = datasets.BUILTIN_PREFIX + name

    def load(_dataset_id: str, _task: str | None = None) -> datasets.Dataset:
        info = datasets.DatasetInfo(dataset_id, "table", len(frame), columns, label=label,
                                    split_column=split_column, tasks=tasks)
        return datasets.Table(info, frame)

    monkeypatch.setitem(datasets.BUILTINS, name, Builtin("a test table", tasks, load))
    return dataset_id


def review_table(monkeypatch: pytest.MonkeyPatch, rows: int) -> str:
    return table(monkeypatch, reviews(rows), {"review": "text", "sentiment": "label"}, "sentiment")


@pytest.fixture
async def sqlite_api(tmp_path: Path) -> AsyncIterator[Api]:
    """The in-process API on SQLite alone (training here is the slow part, not the database)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'a.db'}",
                        builtin_models=False, embedded_worker=False, log_json=False, torch_threads=1)
    services = Services.build(settings)
    app = create_app(settings, services)
    admin = services.keys.create(Principal.system(), name="admin", tenant="default", admin=True).secret
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://aiaas.test",
                                     timeout=120) as client:
            yield Api(client, services, admin)
    services.db.dispose()


def worker_of(api: Api) -> Worker:
    services = api.services
    return Worker(services.db, services.registry, services.settings.data_dir, heartbeat_s=0.5,
                  poll_s=0.05)


def run_job(api: Api, dataset: str, name: str, params: dict[str, Any]) -> Any:
    """Create a job with the job service and run it to its end on an in-process worker."""
    created = api.services.jobs.create(CALLER, task=TASK, dataset=dataset,
                                       name=name, params=params)
    worker = worker_of(api)
    claimed = worker.claim()
    assert claimed is not None and claimed.id == created.id
    worker.execute(claimed)
    return api.services.jobs.get(CALLER, created.id)


def stages(api: Api, job_id: str) -> list[dict[str, Any]]:
    return [e.payload for e in api.services.jobs.events(CALLER, job_id) if e.type == "progress"]


async def predict(api: Api, name: str, texts: list[str]) -> list[dict[str, Any]]:
    response = await api.client.post(f"/api/v1/models/{name}/predict", headers=api.auth(),
                                     json={"inputs": texts})
    assert response.status_code == 200, response.text
    outputs: list[dict[str, Any]] = response.json()["outputs"]
    return outputs


def test_texts_split_by_row_seeded_stratified_or_by_the_users_column(
        monkeypatch: pytest.MonkeyPatch) -> None:
    params = spec_for(TASK).validate({"seed": 3, "method": "fine_tune"})
    dataset = datasets.Catalog().load("t", review_table(monkeypatch, 100), TASK)
    assert isinstance(dataset, datasets.Table)
    first, again = split_texts(dataset, params), split_texts(dataset, params)
    assert first.test.texts == again.test.texts and first.train.texts == again.train.texts
    other = split_texts(dataset, spec_for(TASK).validate({"seed": 4, "method": "fine_tune"}))
    assert other.test.texts != first.test.texts
    for part in (first.train, first.validation, first.test):
        assert dict(zip(part.texts, part.labels.tolist(), strict=True)).items() <= dict(
            zip(dataset.frame["review"], dataset.frame["sentiment"], strict=True)).items()
    assert (len(first.train.texts), len(first.validation.texts), len(first.test.texts)) == (70, 10, 20)
    head = split_texts(dataset, spec_for(TASK).validate({"seed": 3}))  # no validation by default
    assert (len(head.train.texts), len(head.validation.texts)) == (80, 0)
    assert head.test.texts == first.test.texts
    assert sorted(first.test.labels.tolist()).count("positive") == 10
    assert first.train.classes == ["negative", "positive"]
    frame = reviews(12)
    frame["part"] = ["train"] * 8 + ["validation"] * 2 + ["test"] * 2
    own = datasets.Catalog().load("t", table(monkeypatch, frame, {
        "review": "text", "sentiment": "label", "part": "text"}, "sentiment",
        split_column="part"), TASK)
    parts = split_texts(own, spec_for(TASK).validate({"text": "review"}))
    assert parts.test.texts == frame["review"].tolist()[10:]
    assert parts.validation.texts == frame["review"].tolist()[8:10]


async def test_embedding_head_trains_serves_and_its_metrics_are_the_served_ones(
        sqlite_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_builtins(sqlite_api.services.registry, only=[EMBEDDER])
    dataset = review_table(monkeypatch, 120)
    job = run_job(sqlite_api, dataset, "reviews", {"seed": 1, "validation_fraction": 0.1})
    assert job.status == "succeeded", job.error
    metrics, result = job.metrics, job.result
    assert metrics["accuracy"] >= 0.9 and metrics["f1_macro"] >= 0.9, metrics
    assert result["method"] == "embedding_head" and result["features"] == 6 * 384
    assert result["split"] == {"train": 84, "validation": 12, "test": 24}
    assert set(result["plots"]) == {"confusion_matrix", "roc_curve", "influential_words"}
    progress = stages(sqlite_api, job.id)
    assert [p["stage"] for p in progress][:2] == ["split", "embedding"]
    fit = [p["stage"] for p in progress].index("fit")
    assert "validation_f1_macro" in progress[fit]
    explaining = progress[fit + 1:-1]
    assert explaining and all(p["stage"] == "influential_words" for p in explaining)
    assert explaining[-1]["step"] == explaining[-1]["total"] == 24
    assert progress[-1]["stage"] == "evaluated"
    # The sentiment of these reviews is their adjective: it is what pushes each class.
    words = result["influential_words"]
    assert result["influential_words_sample"]["texts"] == 24
    assert words["positive"][0]["word"] in GOOD and words["negative"][0]["word"] in BAD, words
    assert not {entry["word"] for entry in words["positive"]} & set(BAD), words
    assert not {entry["word"] for entry in words["negative"]} & set(GOOD), words
    assert all(entry["texts"] >= 2 and entry["attribution"] > 0 for entry in words["positive"])

    version = sqlite_api.services.registry.resolve("default", "reviews")
    assert (version.format, version.task, version.labels) == (
        "embedding-head", TASK, ["negative", "positive"])
    assert version.metrics["test_f1_macro"] == metrics["f1_macro"]
    test = split_texts(datasets.Catalog().load("t", dataset, TASK),
                       spec_for(TASK).validate({"seed": 1, "validation_fraction": 0.1})).test
    outputs = await predict(sqlite_api, "reviews", test.texts)
    predicted = np.asarray([out["label"] for out in outputs])
    assert metrics["accuracy"] == sk.accuracy_score(test.labels, predicted)
    assert metrics["f1_macro"] == sk.f1_score(test.labels, predicted, average="macro")
    scores = np.asarray([out["probabilities"]["positive"] for out in outputs])
    assert metrics["roc_auc"] == pytest.approx(sk.roc_auc_score(test.labels == "positive", scores),
                                               abs=1e-6)
    for out in outputs:
        assert sum(out["probabilities"].values()) == pytest.approx(1.0)
        assert out["top_k"][0] == {"label": out["label"], "score": out["score"]}
    one = await sqlite_api.client.post("/api/v1/models/reviews/predict", headers=sqlite_api.auth(),
                                       json={"inputs": ["a wonderful, lovely evening"],
                                             "parameters": {"top_k": 1}})
    assert one.status_code == 200, one.text
    assert one.json()["outputs"][0]["label"] == "positive"
    assert len(one.json()["outputs"][0]["top_k"]) == 1


def tiny_bert(api: Api, tmp_path: Path, *, sentence_transformers: bool = False) -> str:
    """Register a 2-layer BERT (hidden 32, with tiny_models' WordPiece tokenizer) as
    ``tiny-bert``, a ``BertForSequenceClassification``, or as ``tiny-st``, a sentence-transformers
    model around a ``BertModel``. The usual 0.02 initialisation: a few epochs train it."""
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    tokenizer = wordpiece_tokenizer()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=32,
                        num_labels=2, id2label={0: "negative", 1: "positive"})
    root = tmp_path / "encoder"
    (BertModel if sentence_transformers else BertForSequenceClassification)(config).save_pretrained(root)
    tokenizer.save_pretrained(root)
    name = "tiny-bert"
    if sentence_transformers:
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

        encoder = Transformer(str(root))
        SentenceTransformer(modules=[encoder, Pooling(encoder.get_embedding_dimension())]).save(
            str(tmp_path / "st"))
        root, name = tmp_path / "st", "tiny-st"
    api.services.registry.register(root, tenant="default", name=name, created_by="test")
    return name


def simple_reviews(rows: int) -> pd.DataFrame:
    """Texts in the tiny tokenizer's vocabulary: 'great'/'wonderful' vs 'awful'/'terrible'."""
    good = ["the movie was great", "what a wonderful day", "i loved this wonderful film",
            "the food was great fun"]
    bad = ["the food was awful", "terrible service", "the worst thing i have ever bought",
           "the soup was cold and awful"]
    texts = [(good if i % 2 == 0 else bad)[(i // 2) % 4] for i in range(rows)]
    labels = ["pos" if i % 2 == 0 else "neg" for i in range(rows)]
    return pd.DataFrame({"text": texts, "label": labels})


FINE_TUNE = {"method": "fine_tune", "base_model": "tiny-bert", "epochs": 8, "batch_size": 4,
             "learning_rate": 3e-3, "warmup_fraction": 0.0, "patience": 0, "max_length": 16}


async def test_fine_tune_of_a_tiny_bert_learns_and_is_served(
        sqlite_api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    params = {**FINE_TUNE, "base_model": tiny_bert(sqlite_api, tmp_path, sentence_transformers=True)}
    dataset = table(monkeypatch, simple_reviews(48), {"text": "text", "label": "label"}, "label")
    job = run_job(sqlite_api, dataset, "tuned", params)
    assert job.status == "succeeded", job.error
    result = job.result
    assert result["method"] == "fine_tune" and result["epochs"] == 8
    assert result["train_loss"][-1] < result["train_loss"][0] / 2, result["train_loss"]
    assert 1 <= result["best_epoch"] <= 8 and result["max_length"] == 16
    assert set(result["plots"]) == {"confusion_matrix", "roc_curve", "training_curve",
                                    "influential_words"}
    assert job.metrics["accuracy"] >= 0.75, job.metrics
    progress = stages(sqlite_api, job.id)
    train = [p for p in progress if p["stage"] == "train"]
    epochs = [p for p in progress if p["stage"] == "epoch"]
    assert train and {"step", "total", "epoch", "loss", "eta_s"} <= set(train[0])
    assert [p["epoch"] for p in epochs] == list(range(1, 9))
    assert all({"validation_accuracy", "validation_f1_macro", "loss"} <= set(p) for p in epochs)

    version = sqlite_api.services.registry.resolve("default", "tuned")
    assert (version.format, version.task, version.labels) == ("transformers", TASK, ["neg", "pos"])
    test = split_texts(datasets.Catalog().load("t", dataset, TASK),
                       spec_for(TASK).validate(params)).test
    outputs = await predict(sqlite_api, "tuned", test.texts)
    predicted = np.asarray([out["label"] for out in outputs])
    assert set(predicted) <= {"neg", "pos"}
    assert job.metrics["accuracy"] == sk.accuracy_score(test.labels, predicted)
    png = await sqlite_api.client.get(f"/api/v1/jobs/{job.id}/plots/training_curve.png",
                                      headers=sqlite_api.auth())
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")


def test_a_cancel_lands_mid_epoch(sqlite_api: Api, monkeypatch: pytest.MonkeyPatch,
                                  tmp_path: Path) -> None:
    services = sqlite_api.services
    tiny_bert(sqlite_api, tmp_path)
    dataset = table(monkeypatch, simple_reviews(80), {"text": "text", "label": "label"}, "label")
    job = services.jobs.create(CALLER, task=TASK, dataset=dataset,
                               name="cancelled", params={**FINE_TUNE, "batch_size": 2})
    seen: list[dict[str, Any]] = []

    def progress(stage: str, **values: Any) -> None:
        seen.append({"stage": stage, **values})
        if stage == "train" and values["batch"] > 10:
            raise JobCancelled

    with pytest.raises(JobCancelled):
        runner.run(job, services.registry, services.settings.data_dir, progress)
    assert seen[-1]["epoch"] == 1 and seen[-1]["batch"] < seen[-1]["batches"]
    assert not any(p["stage"] == "epoch" for p in seen)
    assert [m.name for m in services.registry.list_models(CALLER)] == ["tiny-bert"]


def test_cancel_through_the_job_service_stops_a_running_fine_tune(
        sqlite_api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    services = sqlite_api.services
    tiny_bert(sqlite_api, tmp_path)
    dataset = table(monkeypatch, simple_reviews(80), {"text": "text", "label": "label"}, "label")
    job = services.jobs.create(CALLER, task=TASK, dataset=dataset,
                               name="stopped", params={**FINE_TUNE, "epochs": 100, "batch_size": 1})
    worker = worker_of(sqlite_api)
    claimed = worker.claim()
    assert claimed is not None
    thread = threading.Thread(target=worker.execute, args=(claimed,))
    thread.start()
    deadline = time.monotonic() + 60
    while not any(p["stage"] == "train" for p in stages(sqlite_api, job.id)):
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.02)
    services.jobs.cancel(CALLER, job.id)
    thread.join(60)
    final = services.jobs.get(CALLER, job.id)
    assert (final.status, final.version) == ("cancelled", None)
    assert max(p.get("epoch", 0) for p in stages(sqlite_api, job.id)) < 100


@pytest.mark.parametrize(("params", "base", "named"), [
    ({"base_model": "tiny-bert"}, True, "'tiny-bert' is a transformers text-classification model"),
    ({"base_model": "nowhere"}, False, "model 'nowhere' not found"),
    ({"method": "fine_tune", "base_model": "nowhere"}, False, "model 'nowhere' not found"),
])
def test_a_base_model_of_the_wrong_kind_fails_the_job_naming_it(
        sqlite_api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        params: dict[str, Any], base: bool, named: str) -> None:
    if base:
        tiny_bert(sqlite_api, tmp_path)
    job = run_job(sqlite_api, review_table(monkeypatch, 20), "wrong", params)
    assert job.status == "failed"
    assert job.error.startswith("params.base_model: ") and named in job.error, job.error


def bad_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], str, str]]:
    reviews_id = review_table(monkeypatch, 20)
    numbers = table(monkeypatch, pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}),
                    {"x": "number", "y": "label"}, "y", tasks=())
    no_label = table(monkeypatch, pd.DataFrame({"review": ["a", "b"]}), {"review": "text"}, None,
                     tasks=())
    return [
        ({"dataset": "builtin:iris"}, "dataset", "is for tabular-classification"),
        ({"dataset": numbers}, "params.text", "has no text column"),
        ({"dataset": no_label}, "params.label", "has no label column"),
        ({"params": {"text": "body"}}, "params.text", "no column 'body'"),
        ({"params": {"label": "review"}}, "params.label", "both name column 'review'"),
        ({"params": {"method": "lora"}}, "params.method", "params.method"),
        ({"params": {"epochs": 2}}, "params.epochs", "does not apply to method 'embedding_head'"),
        ({"params": {"method": "fine_tune", "c": 2}}, "params.c", "does not apply"),
        ({"params": {"method": "fine_tune", "learning_rate": 0}}, "params.learning_rate",
         "params.learning_rate"),
        ({"params": {"batch_size": 0}}, "params.batch_size", "params.batch_size"),
        ({"params": {"base_model": ""}}, "params.base_model", "params.base_model"),
        ({"params": {"dropout": 0.1}}, "params.dropout", "params.dropout"),
        ({"params": {"explain_texts": -1}}, "params.explain_texts", "params.explain_texts"),
        ({"params": {"explain_texts": 1001}}, "params.explain_texts", "params.explain_texts"),
        ({"dataset": reviews_id, "promote_if": "rmse<1"}, "promote_if", "unknown metric 'rmse'"),
    ]


async def test_bad_requests_are_422_naming_the_field(api: Api,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    default = review_table(monkeypatch, 20)
    for body, field, named in bad_requests(monkeypatch):
        request = {"task": TASK, "dataset": default, "name": "m", **body}
        response = await api.client.post("/api/v1/jobs", json=request, headers=api.auth())
        assert response.status_code == 422, (body, response.text)
        error = response.json()["error"]
        assert named in error["message"], (body, error)
        assert error["details"].get("field") == field, (body, error)
    assert api.services.jobs.list_jobs(CALLER) == []


SENTIMENT_TARGET = 0.85
"""Issue 4's bar for the embedding head on builtin:sentiment (1,040 reviews): the default seed 0
measures 0.8605 macro-F1 on its 208 test rows (seeds 0-4: 0.861, 0.870, 0.851, 0.851, 0.822)."""


async def test_sentiment_embedding_head_through_the_jobs_api(train_api: Api) -> None:
    ensure_builtins(train_api.services.registry, only=[EMBEDDER])
    created = await train_api.client.post("/api/v1/jobs", headers=train_api.auth(), json={
        "task": TASK, "dataset": "builtin:sentiment", "name": "sentiment",
        "promote_if": "f1_macro>=0.85"})
    assert created.status_code == 202, created.text
    events = await job_events(train_api, created.json()["id"])
    assert events[-1][0] == "status"
    job = (await train_api.client.get(f"/api/v1/jobs/{created.json()['id']}",
                                      headers=train_api.auth())).json()
    assert job["status"] == "succeeded", job
    metrics, result = job["metrics"], job["result"]
    assert metrics["f1_macro"] >= SENTIMENT_TARGET, metrics
    assert result["promoted"] is True, result
    assert result["split"] == {"train": 832, "validation": 0, "test": 208}
    assert any(kind == "progress" and data["stage"] == "embedding" and "eta_s" in data
               for kind, data in events)
    # Global explanation: the words that push reviews towards each class, on 64 test reviews.
    assert result["influential_words_sample"] == {
        "texts": 64, "of": 208, "seconds": result["influential_words_sample"]["seconds"]}
    assert any(kind == "progress" and data["stage"] == "influential_words" and "eta_s" in data
               for kind, data in events)
    positive = [entry["word"] for entry in job["result"]["influential_words"]["positive"]]
    assert set(positive) & OBVIOUSLY_POSITIVE and not set(positive) & OBVIOUSLY_NEGATIVE, positive
    assert set(result["plots"]) == {"confusion_matrix", "roc_curve", "influential_words"}
    png = await train_api.client.get(f"/api/v1/jobs/{job['id']}/plots/influential_words.png",
                                     headers=train_api.auth())
    assert png.status_code == 200 and png.content.startswith(PNG_SIGNATURE)

    test = split_texts(datasets.Catalog().load("t", "builtin:sentiment", TASK),
                       spec_for(TASK).validate({})).test
    outputs = await predict(train_api, "sentiment", test.texts)
    predicted = np.asarray([out["label"] for out in outputs])
    assert set(predicted) <= {"negative", "positive"}
    assert metrics["f1_macro"] == sk.f1_score(test.labels, predicted, average="macro")
    assert metrics["accuracy"] == sk.accuracy_score(test.labels, predicted)
    assert metrics["confusion_matrix"]["matrix"] == sk.confusion_matrix(
        test.labels, predicted, labels=["negative", "positive"]).tolist()


@pytest.mark.parametrize(("tensors", "labels", "named"), [
    ({"weight": np.zeros((3, 64), np.float32), "bias": np.zeros(3, np.float32)}, ["a", "b"],
     "has 3 outputs; aiaas.json must list as many labels"),
    ({"weight": np.zeros((2, 64), np.float32), "bias": np.zeros(3, np.float32)}, ["a", "b"],
     "weight has 2 rows but bias 3 entries"),
    ({"weight": np.zeros((2, 64), np.float64), "bias": np.zeros(2, np.float32)}, ["a", "b"],
     "needs a float32 tensor 'weight'"),
    ({"weight": np.zeros((2, 64), np.float32), "bias": np.zeros(2, np.float32),
      "extra": np.zeros(1, np.float32)}, ["a", "b"], "unexpected tensors: extra"),
    ({"weight": np.zeros((2, 64), np.float32), "bias": np.zeros(2, np.float32)}, ["a", "a"],
     "at least two distinct labels"),
])
def test_a_head_that_does_not_fit_is_refused_at_registration(
        sqlite_api: Api, tmp_path: Path, tensors: dict[str, Any], labels: list[str],
        named: str) -> None:
    import shutil

    from safetensors.numpy import save_file

    from aiaas.errors import Invalid
    from aiaas.runtime.backends.embedding_head import HEAD_FILE

    tiny_bert(sqlite_api, tmp_path, sentence_transformers=True)
    bad = tmp_path / "bad"
    shutil.copytree(tmp_path / "st", bad)
    save_file(tensors, str(bad / HEAD_FILE))
    (bad / "aiaas.json").write_text(json.dumps({"task": TASK, "labels": labels}))
    with pytest.raises(Invalid, match=named):
        sqlite_api.services.registry.register(bad, tenant="default", name="bad", created_by="t")
    assert [m.name for m in sqlite_api.services.registry.list_models(CALLER)] == ["tiny-st"]
