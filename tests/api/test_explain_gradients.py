"""Gradient explanations over the API, run by the backend that holds the model: Integrated
Gradients that add up (base value + attributions = output, within the convergence delta they
report) for a transformers text classifier, a ViT and the digits CNN trained here; Grad-CAM
heat maps of the explained size; the words of an obviously positive review pushing towards
"positive"; ONNX-only models (and transformers models served through their ONNX export) refused
with the methods that apply; a named 422 for every bad setting."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from aiaas.builtin import EMBEDDER, ensure_builtins
from aiaas.config import Settings
from aiaas.training.datasets import Catalog, ImageSet
from tests.conftest import Api
from tests.runtime.tiny_models import (
    build_image_classifier,
    build_onnx_image_classifier,
    build_text_classifier,
    picture,
    tar_gz,
)

TEXT = "The movie was great, and a lot of fun! Unbelievably-wonderful."


@pytest.fixture
def engine() -> str:
    """Transformers classifiers are served on PyTorch here (their gradients); a test that
    parametrizes ``engine`` with ``auto`` gets their ONNX export instead."""
    return "pytorch"


@pytest.fixture
def settings(tmp_path: Path, engine: str) -> Settings:
    """SQLite only: these tests are about the models, not the database."""
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'aiaas.db'}",
                    builtin_models=False, embedded_worker=False, log_json=False, gc_freeze=False,
                    engine=engine)


@pytest.fixture(scope="module")
def text_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return tar_gz(build_text_classifier(tmp_path_factory.mktemp("bert") / "reviews"))


@pytest.fixture
async def reviews(api: Api, text_archive: bytes) -> str:
    uploaded = await api.client.post("/api/v1/models/reviews/versions", content=text_archive,
                                     headers=api.auth())
    assert uploaded.status_code == 201, uploaded.text
    return "reviews"


@pytest.fixture
def pets(api: Api, tmp_path: Path) -> str:
    api.services.registry.register(build_image_classifier(tmp_path / "pets"), tenant="default",
                                   name="pets", created_by="test")
    return "pets"


async def explain(api: Api, name: str, inputs: list[Any], **parameters: Any) -> Any:
    return await api.client.post(f"/api/v1/models/{name}/explain", headers=api.auth(),
                                 json={"inputs": inputs, "parameters": parameters})


def assert_adds_up(explained: dict[str, Any], values: list[float]) -> None:
    """Integrated Gradients' completeness: base + attributions = output, up to the reported
    convergence delta (float32 rounding on top)."""
    gap = explained["base_value"] + sum(values) - explained["output_value"]
    assert abs(gap - explained["delta"]) < 1e-4, (gap, explained["delta"])


def b64_png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(("output", "baseline"), [("probability", None), ("log_odds", "mask")])
async def test_text_integrated_gradients_add_up_per_word(api: Api, reviews: str, output: str,
                                                         baseline: str | None) -> None:
    settings = {"method": "integrated_gradients", "output": output, "steps": 64}
    if baseline:
        settings["baseline"] = baseline
    response = await explain(api, reviews, [TEXT, "awful"], target="positive", **settings)
    assert response.status_code == 200, response.text
    body = response.json()
    for text, explained in zip([TEXT, "awful"], body["explanations"], strict=True):
        assert explained["method"] == "integrated_gradients" and explained["target"] == "positive"
        assert explained["output"] == output
        assert explained["baseline"] == (baseline or "pad")
        words = explained["words"]
        # Sub-word tokens merged back into the words as sent, with their offsets.
        assert [w["word"] for w in words] == re.findall(r"\w+", text)
        assert all(text[w["start"]:w["end"]] == w["word"] for w in words)
        assert_adds_up(explained, [w["attribution"] for w in words])
        assert abs(explained["delta"]) < 0.05
        probability = explained["prediction"]["probabilities"]["positive"]
        expected = probability if output == "probability" else float(
            np.log(probability / (1 - probability)))
        assert explained["output_value"] == pytest.approx(expected, abs=1e-4)
    # Usage counts model evaluations: the prediction, the steps, the input and the baseline.
    assert body["usage"]["items"] == 2 * (1 + 64 + 2)


async def test_image_integrated_gradients_and_grad_cam(api: Api, pets: str) -> None:
    wide = Image.open(io.BytesIO(picture("PNG", (100, 80), seed=3))).convert("RGB")
    small = Image.open(io.BytesIO(picture("PNG", (50, 40), seed=4))).convert("RGB")
    grids = [(80, 100), (40, 50)]  # each image's own size
    for baseline in ("mean", "black", "blur"):
        response = await explain(api, pets, [b64_png(wide), b64_png(small)],
                                 method="integrated_gradients", baseline=baseline, steps=128)
        assert response.status_code == 200, response.text
        for explained, grid in zip(response.json()["explanations"], grids, strict=True):
            heat = np.asarray(explained["heatmap"])
            assert heat.shape == grid and explained["baseline"] == baseline
            assert explained["target"] == explained["prediction"]["label"]
            assert explained["output_value"] == pytest.approx(explained["prediction"]["score"],
                                                              abs=1e-4)
            assert_adds_up(explained, [float(heat.sum())])

    cam = await explain(api, pets, [b64_png(wide)], method="grad_cam", target="bird",
                        heatmap_side=64)
    assert cam.status_code == 200, cam.text
    explained = cam.json()["explanations"][0]
    heat = np.asarray(explained["heatmap"])
    assert explained["method"] == "grad_cam" and explained["target"] == "bird"
    assert heat.shape == (51, 64) and heat.min() >= 0 and heat.max() > 0
    assert explained["base_value"] is None and "delta" not in explained
    assert explained["output_value"] == pytest.approx(
        explained["prediction"]["probabilities"]["bird"], abs=1e-4)
    with Image.open(io.BytesIO(base64.b64decode(explained["overlay_png"]))) as overlay:
        assert overlay.size == (64, 51)


async def test_shap_heat_maps_at_the_image_size_or_the_side_asked(api: Api, pets: str) -> None:
    """SHAP explains a coarser grid (64 a side at most); its map is shared out onto the image's
    own size, or shrunk to the side asked for, and still adds up to the explained output."""
    wide = Image.open(io.BytesIO(picture("PNG", (100, 80), seed=3))).convert("RGB")
    for side, grid in ((None, (80, 100)), (20, (16, 20)), (1000, (80, 100))):
        response = await explain(api, pets, [b64_png(wide)], method="partition", samples=200,
                                 **({"heatmap_side": side} if side else {}))
        assert response.status_code == 200, response.text
        explained = response.json()["explanations"][0]
        heat = np.asarray(explained["heatmap"])
        assert heat.shape == grid
        assert explained["base_value"] + heat.sum() == pytest.approx(explained["output_value"],
                                                                     abs=1e-6)
        with Image.open(io.BytesIO(base64.b64decode(explained["overlay_png"]))) as overlay:
            assert overlay.size == (grid[1], grid[0])


@pytest.fixture
def named_model(request: pytest.FixtureRequest, name: str) -> str:
    """The model fixture the case names (``pets`` or ``reviews``), and only that one: each takes
    seconds to set up."""
    model: str = request.getfixturevalue(name)
    return model


@pytest.mark.parametrize(("name", "parameters", "field", "says"), [
    ("pets", {"heatmap_side": 0}, "parameters.heatmap_side", ""),
    ("pets", {"heatmap_side": 1025}, "parameters.heatmap_side", ""),
    ("reviews", {"heatmap_side": 32}, "parameters.heatmap_side", "no heat map"),
    ("reviews", {"method": "integrated_gradients", "steps": 0}, "parameters.steps", ""),
    ("reviews", {"method": "integrated_gradients", "steps": 257}, "parameters.steps", ""),
    ("reviews", {"method": "integrated_gradients", "baseline": "sepia"}, "parameters.baseline",
     ""),
    ("reviews", {"method": "integrated_gradients", "baseline": "black"}, "parameters.baseline",
     "use one of: pad, mask"),
    ("pets", {"method": "integrated_gradients", "baseline": "pad"}, "parameters.baseline",
     "use one of: mean, black, blur"),
    ("reviews", {"method": "grad_cam"}, "parameters.method",
     "does not apply to text-classification"),
    ("reviews", {"method": "partition", "steps": 16}, "parameters.steps", "integrated_gradients"),
    ("pets", {"method": "grad_cam", "baseline": "black"}, "parameters.baseline",
     "method grad_cam does not take it"),
    ("pets", {"method": "integrated_gradients", "samples": 100}, "parameters.samples", ""),
])
async def test_bad_settings_are_named(api: Api, named_model: str, name: str,
                                      parameters: dict[str, Any], field: str, says: str) -> None:
    item = TEXT if named_model == "reviews" else b64_png(Image.new("RGB", (20, 20), "red"))
    response = await explain(api, named_model, [item], **parameters)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    details = error["details"]
    assert field == (details.get("field") if isinstance(details, dict) else None) or (
        field in str(error)), error
    assert says in error["message"]


async def test_gradient_settings_are_refused_for_tables(
        api: Api, diagnosis: str, cancer_records: list[dict[str, Any]]) -> None:
    response = await explain(api, diagnosis, cancer_records[:1], steps=8)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "parameters.steps"
    response = await explain(api, diagnosis, cancer_records[:1], method="integrated_gradients")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "parameters.method"


@pytest.mark.parametrize("engine", ["auto"])
async def test_models_without_gradients_keep_shap(api: Api, reviews: str, tmp_path: Path) -> None:
    """An ONNX graph, and a transformers model served through its ONNX export (engine auto),
    have no gradients: a gradient method is a 422 naming the methods that apply; auto is SHAP."""
    manifest = {"labels": ["red", "green", "blue"], "task": "image-classification"}
    api.services.registry.register(build_onnx_image_classifier(tmp_path / "cnn",
                                                               manifest=manifest),
                                   tenant="default", name="plain-cnn", created_by="test")
    image = b64_png(Image.new("RGB", (16, 16), "red"))
    for name, item, method in (("plain-cnn", image, "grad_cam"),
                               ("reviews", TEXT, "integrated_gradients")):
        refused = await explain(api, name, [item], method=method)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["details"]["field"] == "parameters.method"
        assert "without its PyTorch form" in error["message"]
        assert error["message"].endswith("use one of: auto, partition")
        fallback = await explain(api, name, [item], samples=100)
        assert fallback.status_code == 200, fallback.text
        assert fallback.json()["explanations"][0]["method"] == "partition"


async def train(api: Api, body: dict[str, Any]) -> None:
    job = await api.client.post("/api/v1/jobs", json=body, headers=api.auth())
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        shown = (await api.client.get(f"/api/v1/jobs/{job.json()['id']}",
                                      headers=api.auth())).json()
        if shown["status"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.1)
    assert shown["status"] == "succeeded", shown


async def test_positive_words_lead_integrated_gradients(train_api: Api) -> None:
    ensure_builtins(train_api.services.registry, only=[EMBEDDER])
    await train(train_api, {"task": "text-classification", "dataset": "builtin:sentiment",
                            "name": "sentiment", "params": {"seed": 3, "explain_texts": 0}})
    review = "The staff were wonderful and the food was delicious, we loved every minute."
    response = await explain(train_api, "sentiment", [review], method="integrated_gradients")
    assert response.status_code == 200, response.text
    explained = response.json()["explanations"][0]
    assert explained["target"] == "positive" and explained["method"] == "integrated_gradients"
    words = explained["words"]
    assert [w["word"] for w in words][:3] == ["The", "staff", "were"]
    assert all(review[w["start"]:w["end"]] == w["word"] for w in words)
    assert_adds_up(explained, [w["attribution"] for w in words])
    ranked = sorted(words, key=lambda w: -w["attribution"])
    assert {w["word"] for w in ranked[:3]} & {"wonderful", "delicious", "loved"}


async def test_the_digits_cnn_trained_here_is_explained_by_its_gradients(train_api: Api) -> None:
    """The CNN is served as ONNX; the trainer stores its PyTorch weights beside the graph, which
    the backend loads for gradients: both gradient methods answer on its 8x8 grid."""
    await train(train_api, {"task": "image-classification", "dataset": "builtin:digits",
                            "name": "digits", "params": {"epochs": 3, "seed": 0}})
    version = train_api.services.registry.resolve("default", "digits")
    assert version.format == "onnx"
    digits = Catalog().load("default", "builtin:digits", "image-classification")
    assert isinstance(digits, ImageSet)
    image = b64_png(digits.images[0])
    gradients = await explain(train_api, "digits", [image], method="integrated_gradients",
                              steps=64)
    assert gradients.status_code == 200, gradients.text
    explained = gradients.json()["explanations"][0]
    heat = np.asarray(explained["heatmap"])
    assert heat.shape == (8, 8) and explained["baseline"] == "mean"
    assert explained["output_value"] == pytest.approx(explained["prediction"]["score"], abs=1e-4)
    assert_adds_up(explained, [float(heat.sum())])
    cam = await explain(train_api, "digits", [image], method="grad_cam")
    assert cam.status_code == 200, cam.text
    heat = np.asarray(cam.json()["explanations"][0]["heatmap"])
    assert heat.shape == (8, 8) and heat.min() >= 0
