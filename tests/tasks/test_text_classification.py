"""Text classification from a transformers directory: predictions over HTTP, their shape,
usage, batching, named 422s and manifest labels."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from tests.registry.conftest import copy_of
from tests.runtime.tiny_models import TEXT_LABELS, build_text_classifier, tar_gz, wordpiece_tokenizer

TEXTS = [
    "the movie was great",
    "the soup was cold and the service terrible",
    "what a wonderful day",
    "never again",
    "i loved every minute of this film with my friends at the beach",
    "awful",
    "das haus ist wunderbar",
    "a lot of fun",
]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """These tests are about the model, not the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'aiaas.db'}"


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_text_classifier(tmp_path_factory.mktemp("bert") / "sentiment")


@pytest.fixture
async def sentiment(api: Api, classifier_dir: Path) -> str:
    info = api.services.registry.register(classifier_dir, tenant="default", name="sentiment",
                                          created_by="test")
    assert info.task == "text-classification"
    return "sentiment"


async def predict(api: Api, inputs: list[Any], parameters: dict[str, Any] | None = None,
                  name: str = "sentiment") -> Any:
    body: dict[str, Any] = {"inputs": inputs}
    if parameters is not None:
        body["parameters"] = parameters
    return await api.client.post(f"/api/v1/models/{name}/predict", json=body, headers=api.auth())


async def test_an_uploaded_archive_serves_over_http(api: Api, classifier_dir: Path) -> None:
    upload = await api.client.post("/api/v1/models/uploaded/versions", content=tar_gz(classifier_dir),
                                   headers=api.auth())
    assert upload.status_code == 201, upload.text
    assert upload.json()["task"] == "text-classification"
    response = await predict(api, ["the movie was great"], name="uploaded")
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["label"] in TEXT_LABELS


async def test_outputs_have_the_classification_shape(api: Api, sentiment: str) -> None:
    response = await predict(api, TEXTS[:3])
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["outputs"]) == 3
    for output in body["outputs"]:
        assert set(output) == {"label", "score", "probabilities", "top_k"}
        probabilities = output["probabilities"]
        assert set(probabilities) == set(TEXT_LABELS)
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert output["score"] == max(probabilities.values())
        assert output["label"] == max(probabilities, key=probabilities.__getitem__)
        assert [entry["label"] for entry in output["top_k"]] == sorted(
            probabilities, key=lambda label: -probabilities[label])
    # The tiny model's random weights still tell these inputs apart.
    assert len({round(o["score"], 6) for o in body["outputs"]}) == 3


async def test_usage_counts_the_tokens_the_model_saw(api: Api, sentiment: str) -> None:
    tokenizer = wordpiece_tokenizer()
    expected = sum(len(tokenizer(text)["input_ids"]) for text in TEXTS[:4])
    response = await predict(api, TEXTS[:4])
    assert response.json()["usage"]["prompt_tokens"] == expected
    long = " ".join(["wonderful film"] * 100)
    response = await predict(api, [long])
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["prompt_tokens"] == 32  # truncated to the model's limit


async def test_the_same_input_gives_the_same_output(api: Api, sentiment: str) -> None:
    first = (await predict(api, TEXTS[:2])).json()["outputs"]
    second = (await predict(api, TEXTS[:2])).json()["outputs"]
    assert first == second


async def test_a_batch_matches_one_by_one_and_concurrent_calls(api: Api, sentiment: str) -> None:
    inputs = TEXTS * 3
    together = (await predict(api, inputs)).json()["outputs"]
    alone = [(await predict(api, [text])).json()["outputs"][0] for text in TEXTS]
    concurrent = await asyncio.gather(*(predict(api, [text]) for text in inputs))
    for index, text in enumerate(inputs):
        reference = alone[TEXTS.index(text)]["probabilities"]
        for output in (together[index], concurrent[index].json()["outputs"][0]):
            assert output["label"] == alone[TEXTS.index(text)]["label"]
            for label in TEXT_LABELS:
                assert output["probabilities"][label] == pytest.approx(reference[label], abs=1e-5)


async def test_top_k_limits_the_ranked_list(api: Api, sentiment: str) -> None:
    one = (await predict(api, TEXTS[:1], {"top_k": 1})).json()["outputs"][0]
    assert len(one["top_k"]) == 1 and one["top_k"][0]["label"] == one["label"]
    assert len(one["probabilities"]) == 2
    many = (await predict(api, TEXTS[:1], {"top_k": 50})).json()["outputs"][0]
    assert len(many["top_k"]) == 2


@pytest.mark.parametrize(
    ("inputs", "parameters", "mentions"),
    [
        ([""], None, "inputs[0]"),
        (["ok", "   "], None, "inputs[1]"),
        (["ok", 5], None, "inputs[1]"),
        ([None], None, "inputs[0]"),
        (["ok"], {"top_k": 0}, "parameters.top_k"),
        (["ok"], {"top_k": -2}, "parameters.top_k"),
        (["ok"], {"top_k": "2"}, "parameters.top_k"),
        (["ok"], {"top_k": True}, "parameters.top_k"),
        (["ok"], {"temperature": 1}, "temperature"),
    ],
)
async def test_bad_inputs_are_named_422s(api: Api, sentiment: str, inputs: list[Any],
                                         parameters: dict[str, Any] | None, mentions: str) -> None:
    response = await predict(api, inputs, parameters)
    assert response.status_code == 422, response.text
    assert mentions in response.json()["error"]["message"]


async def test_a_text_over_the_character_limit_is_422(api: Api, sentiment: str) -> None:
    limit = api.services.settings.max_input_chars
    response = await predict(api, ["a" * (limit + 1)])
    assert response.status_code == 422
    assert str(limit) in response.json()["error"]["message"]


async def test_manifest_labels_rename_the_classes(api: Api, classifier_dir: Path,
                                                  tmp_path: Path) -> None:
    renamed = copy_of(classifier_dir, tmp_path / "renamed")
    (renamed / "aiaas.json").write_text(json.dumps({"labels": ["bad", "good"]}))
    api.services.registry.register(renamed, tenant="default", name="renamed", created_by="test")
    output = (await predict(api, TEXTS[:1], name="renamed")).json()["outputs"][0]
    assert set(output["probabilities"]) == {"bad", "good"}
