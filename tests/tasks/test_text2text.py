"""Text to text from a transformers encoder-decoder (a tiny T5): generation over HTTP,
batching, usage and named 4xx errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aiaas.tasks.text2text import MAX_BEAMS, MAX_TOKENS
from tests.conftest import Api
from tests.runtime.tiny_models import build_seq2seq

TEXTS = [
    "translate english to german: the house is wonderful",
    "the cat sat on the mat",
    "what a wonderful day at the beach",
    "never again",
    "das haus ist wunderbar",
]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """These tests are about the model, not the database: SQLite only."""
    return f"sqlite:///{tmp_path / 'aiaas.db'}"


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_seq2seq(tmp_path_factory.mktemp("t5") / "translator")


@pytest.fixture
async def translator(api: Api, t5_dir: Path) -> str:
    info = api.services.registry.register(t5_dir, tenant="default", name="translator",
                                          created_by="test")
    assert (info.task, info.format) == ("text2text", "transformers")
    assert info.config["model_type"] == "t5"
    return "translator"


async def generate(api: Api, inputs: list[Any], parameters: dict[str, Any] | None = None) -> Any:
    body: dict[str, Any] = {"inputs": inputs}
    if parameters is not None:
        body["parameters"] = parameters
    return await api.client.post("/api/v1/models/translator/predict", json=body, headers=api.auth())


async def test_outputs_are_texts_with_token_usage(api: Api, translator: str) -> None:
    response = await generate(api, TEXTS[:3], {"max_tokens": 6})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [set(output) for output in body["outputs"]] == [{"text"}] * 3
    assert all(isinstance(output["text"], str) for output in body["outputs"])
    assert any(output["text"] for output in body["outputs"])
    usage = body["usage"]
    assert usage["prompt_tokens"] >= 3 * 2
    assert 0 < usage["completion_tokens"] <= 3 * 6


async def test_max_tokens_bounds_the_output(api: Api, translator: str) -> None:
    short = (await generate(api, TEXTS[:1], {"max_tokens": 2})).json()
    longer = (await generate(api, TEXTS[:1], {"max_tokens": 12})).json()
    assert short["usage"]["completion_tokens"] <= 2
    assert longer["usage"]["completion_tokens"] <= 12
    assert longer["outputs"][0]["text"].startswith(short["outputs"][0]["text"])


async def test_the_same_input_gives_the_same_text(api: Api, translator: str) -> None:
    first = (await generate(api, TEXTS, {"max_tokens": 8})).json()["outputs"]
    second = (await generate(api, TEXTS, {"max_tokens": 8})).json()["outputs"]
    assert first == second


@pytest.mark.parametrize("num_beams", [1, 2])
async def test_a_batch_matches_one_by_one_and_concurrent_calls(api: Api, translator: str,
                                                               num_beams: int) -> None:
    parameters = {"max_tokens": 8, "num_beams": num_beams}
    together = (await generate(api, TEXTS, parameters)).json()["outputs"]
    alone = [(await generate(api, [text], parameters)).json()["outputs"][0] for text in TEXTS]
    concurrent = await asyncio.gather(*(generate(api, [text], parameters) for text in TEXTS))
    assert together == alone
    assert [r.json()["outputs"][0] for r in concurrent] == alone


async def test_long_inputs_are_truncated_not_refused(api: Api, translator: str) -> None:
    response = await generate(api, [" ".join(["wonderful house"] * 200)], {"max_tokens": 3})
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["prompt_tokens"] == 32


@pytest.mark.parametrize(
    ("inputs", "parameters", "mentions"),
    [
        ([""], None, "inputs[0]"),
        (["fine", "  \n"], None, "inputs[1]"),
        ([["a list"]], None, "inputs[0]"),
        (["fine"], {"max_tokens": 0}, "parameters.max_tokens"),
        (["fine"], {"max_tokens": MAX_TOKENS + 1}, "parameters.max_tokens"),
        (["fine"], {"max_tokens": "10"}, "parameters.max_tokens"),
        (["fine"], {"num_beams": 0}, "parameters.num_beams"),
        (["fine"], {"num_beams": MAX_BEAMS + 1}, "parameters.num_beams"),
        (["fine"], {"num_beams": True}, "parameters.num_beams"),
        (["fine"], {"temperature": 0.7}, "temperature"),
    ],
)
async def test_bad_inputs_are_named_422s(api: Api, translator: str, inputs: list[Any],
                                         parameters: dict[str, Any] | None, mentions: str) -> None:
    response = await generate(api, inputs, parameters)
    assert response.status_code == 422, response.text
    assert mentions in response.json()["error"]["message"]
