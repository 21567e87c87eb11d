"""Image classification training through the API and its embedded worker process: the digits
CNN, fine-tuning a tiny local ViT on an uploaded ZIP of class folders, cancel mid-epoch, and the
4xx a bad request gets."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sklearn import metrics as sk

from aiaas.errors import Invalid
from aiaas.training.datasets.base import ImageSet
from aiaas.training.datasets.catalog import Catalog
from aiaas.training.trainers.images import split_images
from tests.conftest import Api
from tests.runtime.tiny_models import build_image_classifier
from tests.training.conftest import job_events

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOURS = ("red", "green", "blue", "grey")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """These tests are about training images, not the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'aiaas.db'}"


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def colour_zip(per_class: int = 12, seed: int = 0) -> tuple[bytes, list[Image.Image]]:
    """A ZIP of class folders of noisy 28x24 RGB pictures whose class is the dominant colour
    (grey: none): learnable in a few steps. Four classes, so the tiny ViT's three-label head is
    replaced. Also returns one picture of each class."""
    rng = np.random.default_rng(seed)
    buffer, samples = io.BytesIO(), []
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(per_class * len(COLOURS)):
            label = COLOURS[i % len(COLOURS)]
            pixels = rng.integers(0, 90, (24, 28, 3))
            if label == "grey":
                pixels += 75
            else:
                pixels[..., COLOURS.index(label)] += 150
            image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
            archive.writestr(f"colours/{label}/{i}.png", png(image))
            samples.append(image)
    return buffer.getvalue(), samples[:len(COLOURS)]


async def upload(api: Api, filename: str, data: bytes, name: str) -> str:
    response = await api.client.post("/api/v1/datasets", headers=api.auth(), data={"name": name},
                                     files={"file": (filename, data, "application/octet-stream")})
    assert response.status_code == 201, response.text
    dataset_id: str = response.json()["id"]
    return dataset_id


async def create(api: Api, **body: Any) -> Any:
    request = {"task": "image-classification", **body}
    return await api.client.post("/api/v1/jobs", json=request, headers=api.auth())


async def job_of(api: Api, job_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/api/v1/jobs/{job_id}", headers=api.auth())
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


async def wait_until(api: Api, job_id: str, done: Any, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = await job_of(api, job_id)
        if done(job):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not get there in {timeout_s} s: {job}")


async def predict(api: Api, name: str, images: list[Image.Image]) -> list[dict[str, Any]]:
    """The served outputs for ``images`` sent as base64 PNG, 100 a request."""
    outputs: list[dict[str, Any]] = []
    for start in range(0, len(images), 100):
        inputs = [base64.b64encode(png(image)).decode("ascii") for image in images[start:start + 100]]
        response = await api.client.post(f"/api/v1/models/{name}/predict",
                                         json={"inputs": inputs}, headers=api.auth())
        assert response.status_code == 200, response.text
        outputs.extend(response.json()["outputs"])
    return outputs


def test_the_split_is_seeded_stratified_and_disjoint() -> None:
    labels = [label for label in "abc" for _ in range(20)]
    first = split_images(labels, seed=4, test_fraction=0.2, validation_fraction=0.1)
    again = split_images(labels, seed=4, test_fraction=0.2, validation_fraction=0.1)
    other = split_images(labels, seed=5, test_fraction=0.2, validation_fraction=0.1)
    assert first.sizes() == {"train": 42, "validation": 6, "test": 12}
    assert all(np.array_equal(a, b) for a, b in zip(
        (first.train, first.validation, first.test), (again.train, again.validation, again.test),
        strict=True))
    assert not np.array_equal(first.test, other.test)
    assert sorted(np.concatenate([first.train, first.validation, first.test])) == list(range(60))
    assert [sum(labels[i] == c for i in first.test) for c in "abc"] == [4, 4, 4]
    assert [sum(labels[i] == c for i in first.validation) for c in "abc"] == [2, 2, 2]
    with pytest.raises(Invalid, match=r"at least 3 images.*'lonely' \(2\)"):
        split_images([*labels, "lonely", "lonely"], seed=0, test_fraction=0.2,
                     validation_fraction=0.1)


async def test_digits_cnn_trains_and_serves_what_it_evaluated(train_api: Api) -> None:
    response = await create(train_api, dataset="builtin:digits", name="digits",
                            params={"epochs": 8, "seed": 0}, promote_if="accuracy>=0.97")
    assert response.status_code == 202, response.text
    job = await wait_until(train_api, response.json()["id"], lambda j: j["finished_at"])
    assert job["status"] == "succeeded", job
    metrics, result = job["metrics"], job["result"]
    assert metrics["accuracy"] >= 0.97, metrics
    assert result["promoted"] is True
    assert result["method"] == "cnn" and result["image_size"] == [8, 8]
    assert result["channels"] == 1 and result["epochs"] == 8 and 1 <= result["best_epoch"] <= 8
    assert job["params"]["epochs"] == 8 and job["params"]["batch_size"] == 64  # defaults filled

    events = [data for kind, data in await job_events(train_api, job["id"]) if kind == "progress"]
    stages = [event["stage"] for event in events]
    assert stages[0] == "split" and stages[-1] == "evaluated"
    steps = [e for e in events if e["stage"] == "train"]
    assert steps and {"step", "total", "epoch", "loss", "eta_s"} <= set(steps[0])
    epochs = [e for e in events if e["stage"] == "epoch"]
    assert [e["epoch"] for e in epochs] == list(range(1, 9))
    assert all(0 <= e["validation_accuracy"] <= 1 for e in epochs)
    best = max(e["validation_accuracy"] for e in epochs)  # rounded to 5 places in events
    assert result["best_validation_accuracy"] == pytest.approx(best, abs=1e-5)

    # The whole test split sent as PNG to the served model gives the job's numbers exactly.
    digits = Catalog().load("default", "builtin:digits", "image-classification")
    assert isinstance(digits, ImageSet)
    parts = split_images(digits.labels, seed=0, test_fraction=0.2, validation_fraction=0.1)
    assert result["split"] == parts.sizes() and metrics["samples"] == len(parts.test)
    images = [digits.images[i] for i in parts.test]
    y_test = np.asarray([digits.labels[i] for i in parts.test])
    outputs = await predict(train_api, "digits", images)
    predicted = np.asarray([output["label"] for output in outputs])
    labels = [str(d) for d in range(10)]
    assert metrics["accuracy"] == sk.accuracy_score(y_test, predicted)
    assert metrics["f1_macro"] == sk.f1_score(y_test, predicted, average="macro")
    assert metrics["confusion_matrix"]["matrix"] == sk.confusion_matrix(
        y_test, predicted, labels=labels).tolist()

    # A few PNG file uploads (multipart) answer as the JSON request did.
    for image, expected in zip(images[:3], outputs[:3], strict=True):
        upload = await train_api.client.post(
            "/api/v1/models/digits/predict", headers=train_api.auth(),
            files=[("file", ("digit.png", png(image), "image/png"))])
        assert upload.status_code == 200, upload.text
        assert upload.json()["outputs"][0]["label"] == expected["label"]
        assert upload.json()["outputs"][0]["score"] == pytest.approx(expected["score"], abs=1e-6)

    version = train_api.services.registry.resolve("default", "digits")
    assert (version.format, version.task, version.labels) == ("onnx", "image-classification", labels)
    assert version.config["size"] == [8, 8] and version.config["channels"] == 1
    assert version.metrics["test_accuracy"] == metrics["accuracy"]

    assert set(result["plots"]) == {"confusion_matrix", "training_curve"}
    for name in result["plots"]:
        picture = await train_api.client.get(f"/api/v1/jobs/{job['id']}/plots/{name}.png",
                                             headers=train_api.auth())
        assert picture.status_code == 200 and picture.content.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(picture.content)) as opened:
            assert opened.size[0] > 300 and opened.size[1] > 200

    # Explained: a heat map per pixel whose sum with the base value is the label's probability,
    # drawn over the digit as a PNG.
    explained = await train_api.client.post(
        "/api/v1/models/digits/explain", headers=train_api.auth(),
        json={"inputs": [base64.b64encode(png(images[0])).decode()], "parameters": {"samples": 300}})
    assert explained.status_code == 200, explained.text
    heat = explained.json()["explanations"][0]
    assert heat["method"] == "partition" and heat["target"] == outputs[0]["label"]
    assert np.asarray(heat["heatmap"]).shape == (8, 8)
    assert heat["base_value"] + np.asarray(heat["heatmap"]).sum() == pytest.approx(
        heat["output_value"], abs=1e-5)
    assert heat["output_value"] == pytest.approx(outputs[0]["score"], abs=1e-5)
    with Image.open(io.BytesIO(base64.b64decode(heat["overlay_png"]))) as overlay:
        assert overlay.size == (8, 8)


async def test_cancel_lands_mid_epoch(train_api: Api) -> None:
    """Digits upsampled to 64x64 in batches of 2: an epoch is hundreds of batches, and a cancel
    is honoured at the next progress point, a few batches later."""
    response = await create(train_api, dataset="builtin:digits", name="slow",
                            params={"image_size": 64, "batch_size": 2, "epochs": 50})
    job_id = response.json()["id"]
    deadline = time.monotonic() + 120
    while "stage=train" not in (await train_api.client.get(
            f"/api/v1/jobs/{job_id}/logs", headers=train_api.auth())).text:
        assert time.monotonic() < deadline, "no training progress in 120 s"
        await asyncio.sleep(0.05)
    cancel = await train_api.client.post(f"/api/v1/jobs/{job_id}/cancel", headers=train_api.auth())
    assert cancel.status_code == 200, cancel.text
    job = await wait_until(train_api, job_id, lambda j: j["finished_at"], timeout_s=60)
    assert job["status"] == "cancelled" and job["version"] is None
    progress = [data for kind, data in await job_events(train_api, job_id) if kind == "progress"]
    last = progress[-1]
    assert last["stage"] == "train" and last["epoch"] == 1 and last["batch"] < last["batches"]
    assert not any(event["stage"] == "epoch" for event in progress)
    missing = await train_api.client.get("/api/v1/models/slow", headers=train_api.auth())
    assert missing.status_code == 404


async def test_fine_tune_and_cnn_on_an_uploaded_zip(train_api: Api, tmp_path: Path) -> None:
    base = build_image_classifier(tmp_path / "vit")
    train_api.services.registry.register(base, tenant="default", name="tiny-vit", created_by="test")
    archive, samples = colour_zip()
    await upload(train_api, "colours.zip", archive, "colours")

    missing = await create(train_api, dataset="colours", name="nothing",
                           params={"base_model": "no-such-model"})
    assert missing.status_code == 202, missing.text
    failed = await wait_until(train_api, missing.json()["id"], lambda j: j["finished_at"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("params.base_model: ") and "no-such-model" in failed["error"]

    response = await create(train_api, dataset="colours", name="colours",
                            params={"base_model": "tiny-vit", "epochs": 2, "batch_size": 8,
                                    "learning_rate": 1e-3})
    assert response.status_code == 202, response.text
    assert response.json()["params"]["method"] == "fine_tune"
    job = await wait_until(train_api, response.json()["id"], lambda j: j["finished_at"])
    assert job["status"] == "succeeded", job
    assert job["result"]["method"] == "fine_tune" and job["result"]["epochs"] == 2
    assert job["result"]["split"] == {"train": 33, "validation": 5, "test": 10}
    assert job["metrics"]["samples"] == 10
    assert set(job["metrics"]["per_class"]) == set(COLOURS)
    assert set(job["result"]["plots"]) == {"confusion_matrix", "training_curve"}

    version = train_api.services.registry.resolve("default", "colours")
    assert (version.format, version.task) == ("transformers", "image-classification")
    assert sorted(version.labels) == sorted(COLOURS)
    stored = train_api.services.registry.artifact_path(version)
    assert (stored / "model.safetensors").is_file()
    assert (stored / "preprocessor_config.json").is_file()
    outputs = await predict(train_api, "colours", samples)
    assert all(set(output["probabilities"]) == set(COLOURS) for output in outputs)

    # The same RGB, non-square pictures train a CNN too, served at their own 24x28 size.
    response = await create(train_api, dataset="colours", name="colours-cnn",
                            params={"epochs": 3, "batch_size": 8})
    job = await wait_until(train_api, response.json()["id"], lambda j: j["finished_at"])
    assert job["status"] == "succeeded", job
    assert job["result"]["image_size"] == [24, 28] and job["result"]["channels"] == 3
    version = train_api.services.registry.resolve("default", "colours-cnn")
    assert (version.format, version.config["size"], version.config["channels"]) == (
        "onnx", [24, 28], 3)
    outputs = await predict(train_api, "colours-cnn", samples)
    assert all(set(output["probabilities"]) == set(COLOURS) for output in outputs)


@pytest.mark.parametrize(("params", "field"), [
    ({"method": "svm"}, "params.method"),
    ({"epochs": 0}, "params.epochs"),
    ({"learning_rate": -1}, "params.learning_rate"),
    ({"image_size": 2}, "params.image_size"),
    ({"test_fraction": 0.9}, "params.test_fraction"),
    ({"bogus": 1}, "params.bogus"),
    ({"method": "fine_tune"}, "params.base_model"),
    ({"method": "cnn", "base_model": "tiny-vit"}, "params.base_model"),
    ({"base_model": "tiny-vit", "image_size": 32}, "params.image_size"),
])
async def test_bad_params_are_422_naming_the_field(api: Api, params: dict[str, Any],
                                                   field: str) -> None:
    response = await create(api, dataset="builtin:digits", name="m", params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["field"] == field and error["message"].startswith(field)


async def test_a_table_is_refused_with_a_422(api: Api) -> None:
    builtin = await create(api, dataset="builtin:iris", name="m")
    assert builtin.status_code == 422, builtin.text
    assert "not image-classification" in builtin.json()["error"]["message"]
    table = await upload(api, "points.csv", b"x,label\n1,a\n2,b\n3,a\n4,b\n", "points")
    uploaded = await create(api, dataset=table, name="m")
    assert uploaded.status_code == 422, uploaded.text
    error = uploaded.json()["error"]
    assert error["details"]["field"] == "dataset"
    assert f"dataset {table!r} is a table" in error["message"]
    assert (await api.client.get("/api/v1/jobs", headers=api.auth())).json() == {"jobs": []}
