"""Image classification from a transformers ViT and from ONNX graphs: detection, predictions over
HTTP (JSON and multipart), and a named 4xx for every kind of bad image."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from aiaas.errors import Invalid
from tests.conftest import Api
from tests.registry.conftest import iris_files, write_tree
from tests.runtime.tiny_models import (
    IMAGE_LABELS,
    b64,
    bomb_png,
    build_image_classifier,
    build_onnx_image_classifier,
    picture,
)

PICTURES = [picture(fmt, size, seed=seed) for seed, (fmt, size) in enumerate(
    [("PNG", (48, 40)), ("JPEG", (64, 64)), ("WEBP", (40, 56)), ("PNG", (32, 32)),
     ("JPEG", (100, 30)), ("WEBP", (33, 33))])]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """These tests are about the model, not the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'aiaas.db'}"


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_image_classifier(tmp_path_factory.mktemp("vit") / "pets")


@pytest.fixture
async def pets(api: Api, vit_dir: Path) -> str:
    info = api.services.registry.register(vit_dir, tenant="default", name="pets", created_by="test")
    assert (info.task, info.format) == ("image-classification", "transformers")
    assert info.labels == list(IMAGE_LABELS)
    return "pets"


async def predict(api: Api, name: str, inputs: list[Any],
                  parameters: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"inputs": inputs}
    if parameters is not None:
        body["parameters"] = parameters
    return await api.client.post(f"/api/v1/models/{name}/predict", json=body, headers=api.auth())


def check_shape(output: dict[str, Any], labels: list[str], k: int) -> None:
    assert set(output) == {"label", "score", "probabilities", "top_k"}
    probabilities = output["probabilities"]
    assert set(probabilities) == set(labels)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert output["score"] == max(probabilities.values())
    assert output["label"] == max(probabilities, key=probabilities.__getitem__)
    assert len(output["top_k"]) == k
    scores = [entry["score"] for entry in output["top_k"]]
    assert scores == sorted(scores, reverse=True)
    assert output["top_k"][0] == {"label": output["label"], "score": output["score"]}


def assert_close(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert a["label"] == b["label"]
        for label, value in a["probabilities"].items():
            assert b["probabilities"][label] == pytest.approx(value, abs=1e-5)


async def test_each_image_type_and_item_form_is_classified(api: Api, pets: str) -> None:
    inputs: list[Any] = [b64(data) for data in PICTURES[:3]]
    inputs.append({"image": b64(PICTURES[3])})
    inputs.append(f"data:image/jpeg;base64,{b64(PICTURES[4])}")
    response = await predict(api, pets, inputs)
    assert response.status_code == 200, response.text
    outputs = response.json()["outputs"]
    assert len(outputs) == 5
    for output in outputs:
        check_shape(output, list(IMAGE_LABELS), 3)  # top_k defaults to 5, capped at 3 labels
    assert len({round(o["score"], 6) for o in outputs}) == 5


async def test_the_same_image_gives_the_same_output(api: Api, pets: str) -> None:
    first = (await predict(api, pets, [b64(PICTURES[0])])).json()["outputs"]
    second = (await predict(api, pets, [{"image": b64(PICTURES[0])}])).json()["outputs"]
    assert first == second


async def test_a_batch_matches_one_by_one_and_concurrent_calls(api: Api, pets: str) -> None:
    encoded = [b64(data) for data in PICTURES] * 2
    together = (await predict(api, pets, encoded)).json()["outputs"]
    alone = [(await predict(api, pets, [item])).json()["outputs"][0] for item in encoded]
    concurrent = await asyncio.gather(*(predict(api, pets, [item]) for item in encoded))
    assert_close(together, alone)
    assert_close([r.json()["outputs"][0] for r in concurrent], alone)


async def test_top_k_parameter(api: Api, pets: str) -> None:
    output = (await predict(api, pets, [b64(PICTURES[0])], {"top_k": 1})).json()["outputs"][0]
    check_shape(output, list(IMAGE_LABELS), 1)


async def test_multipart_upload_gives_the_same_output_as_json(api: Api, pets: str) -> None:
    as_json = (await predict(api, pets, [b64(PICTURES[1])], {"top_k": 2})).json()["outputs"]
    response = await api.client.post(
        f"/api/v1/models/{pets}/predict", headers=api.auth(),
        files=[("file", ("cat.jpg", PICTURES[1], "image/jpeg"))],
        data={"parameters": json.dumps({"top_k": 2})},
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == as_json


@pytest.mark.parametrize(
    ("item", "status", "mentions"),
    [
        (b64(b"name,age\nada,36\nalan,41\n"), 422, "not a PNG, JPEG or WebP image"),
        (b64(bomb_png(100_000, 100_000)), 413, "pixels"),
        (b64(bomb_png(8000, 8000)), 413, "over the limit of 40000000"),
        (b64(PICTURES[1][: len(PICTURES[1]) // 2]), 422, "JPEG image is truncated"),
        ("not base64 at all!", 422, "not valid base64"),
        ("", 422, "empty string"),
        ({"picture": b64(PICTURES[0])}, 422, "unknown field"),
        (42, 422, "got int"),
    ],
)
async def test_bad_images_are_named_4xx(api: Api, pets: str, item: Any, status: int,
                                        mentions: str) -> None:
    response = await predict(api, pets, [b64(PICTURES[0]), item])
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"].startswith("inputs[1]: ")
    assert mentions in error["message"]
    assert error["details"]["field"] == "inputs[1]"


@pytest.mark.parametrize("parameters", [{"top_k": 0}, {"top_k": -1}, {"top_k": "3"},
                                        {"top_k": 2.5}, {"threshold": 0.5}])
async def test_bad_parameters_are_422(api: Api, pets: str, parameters: dict[str, Any]) -> None:
    response = await predict(api, pets, [b64(PICTURES[0])], parameters)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"].startswith("parameters")


async def test_a_text_file_uploaded_as_an_image_is_422(api: Api, pets: str) -> None:
    response = await api.client.post(
        f"/api/v1/models/{pets}/predict", headers=api.auth(),
        files=[("file", ("notes.txt", b"just some notes, not a picture\n", "text/plain"))],
    )
    assert response.status_code == 422, response.text
    assert "inputs[0]: not a PNG, JPEG or WebP image" in response.json()["error"]["message"]


# ONNX image models


async def test_an_onnx_image_model_is_detected_from_its_4d_input(api: Api, tmp_path: Path) -> None:
    manifest = {"labels": ["red", "green", "blue"], "image_mean": [0.5], "image_std": [0.25]}
    info = api.services.registry.register(
        build_onnx_image_classifier(tmp_path / "cnn", manifest=manifest, size=None),
        tenant="default", name="cnn", created_by="test")
    assert (info.task, info.format) == ("image-classification", "onnx")
    assert info.labels == ["red", "green", "blue"]
    assert info.config["size"] == [224, 224]  # dynamic in the graph, no size given: the default
    assert info.config["mean"] == [0.5] * 3 and info.config["std"] == [0.25] * 3
    encoded = [b64(data) for data in PICTURES]
    together = (await predict(api, "cnn", encoded)).json()["outputs"]
    for output in together:
        check_shape(output, ["red", "green", "blue"], 3)
    alone = [(await predict(api, "cnn", [item])).json()["outputs"][0] for item in encoded]
    assert_close(together, alone)
    assert len({round(o["score"], 6) for o in together}) == len(encoded)


async def test_an_onnx_model_without_manifest_gets_defaults(api: Api, tmp_path: Path) -> None:
    info = api.services.registry.register(build_onnx_image_classifier(tmp_path / "plain", classes=4),
                                          tenant="default", name="plain", created_by="test")
    assert info.task == "image-classification"
    assert info.labels == ["0", "1", "2", "3"]
    assert info.config["size"] == [16, 16] and info.config["mean"] == [0.485, 0.456, 0.406]
    response = await predict(api, "plain", [b64(PICTURES[0])], {"top_k": 2})
    assert response.status_code == 200, response.text
    check_shape(response.json()["outputs"][0], ["0", "1", "2", "3"], 2)


async def test_a_fixed_batch_of_one_runs_image_by_image(api: Api, tmp_path: Path) -> None:
    api.services.registry.register(build_onnx_image_classifier(tmp_path / "one", batch=1),
                                   tenant="default", name="one", created_by="test")
    encoded = [b64(data) for data in PICTURES[:3]]
    together = (await predict(api, "one", encoded)).json()["outputs"]
    alone = [(await predict(api, "one", [item])).json()["outputs"][0] for item in encoded]
    assert_close(together, alone)


async def test_channels_last_graphs_get_channels_last_input(api: Api, tmp_path: Path) -> None:
    for name, layout in (("first", "NCHW"), ("last", "NHWC")):
        info = api.services.registry.register(
            build_onnx_image_classifier(tmp_path / name, layout=layout), tenant="default",
            name=name, created_by="test")
        assert info.config["layout"] == layout and info.config["size"] == [16, 16]
    encoded = [b64(data) for data in PICTURES[:3]]
    first = (await predict(api, "first", encoded)).json()["outputs"]
    last = (await predict(api, "last", encoded)).json()["outputs"]
    assert_close(first, last)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"labels": ["a", "b"]}, "2 labels are given; the model has 3 outputs"),
        ({"image_size": 32}, "differs from the model's input"),
        ({"image_mean": [0.5, 0.5]}, "image_mean has 2 values"),
        ({"image_std": [0.0]}, "positive"),
    ],
)
def test_onnx_manifests_that_do_not_fit_the_graph_are_refused(
    api: Api, tmp_path: Path, manifest: dict[str, Any], message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        api.services.registry.register(build_onnx_image_classifier(tmp_path / "m", manifest=manifest),
                                       tenant="default", name="m", created_by="test")


def test_tabular_onnx_is_still_tabular_and_cannot_be_called_an_image_model(api: Api,
                                                                           tmp_path: Path) -> None:
    iris = write_tree(tmp_path / "iris", iris_files())
    info = api.services.registry.register(iris, tenant="default", name="iris", created_by="test")
    assert info.task == "tabular-classification"
    with pytest.raises(Invalid, match="cannot serve task 'image-classification'"):
        api.services.registry.register(iris, tenant="default", name="iris2", created_by="test",
                                       task="image-classification")
    manifest = json.loads(iris_files()["aiaas.json"]) | {"task": "image-classification"}
    (iris / "aiaas.json").write_text(json.dumps(manifest))
    with pytest.raises(Invalid, match="4-D float32 image tensor"):
        api.services.registry.register(iris, tenant="default", name="iris3", created_by="test")
