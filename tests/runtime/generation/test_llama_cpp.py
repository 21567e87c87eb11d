"""The llama.cpp engine with the real SmolLM2-135M-Instruct weights (the f16 build, exported and
checked once for the module): greedy answers, seeded sampling, stop strings, length limits,
many streams decoded in shared steps, a stream joining a running batch, a cancelled stream
freeing its sequence id and KV cells, and the fallback to transformers with its reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiaas.errors import Invalid
from aiaas.runtime.backends.llama_cpp import CHECK_PROMPTS, LlamaCppBackend
from aiaas.runtime.generation.llama_cpp import LlamaEngine
from aiaas.tasks.base import StreamEvent
from aiaas.tasks.generation_params import check_generation_parameters
from tests.runtime.conftest import GGUF, smollm2_dir


def chat(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def params(**values: Any) -> dict[str, Any]:
    return check_generation_parameters({"max_tokens": 16, "temperature": 0, **values})


async def generate(backend: LlamaCppBackend, item: Any, **values: Any) -> tuple[str, StreamEvent]:
    parts: list[str] = []
    last = StreamEvent()
    async for event in backend.stream(item, params(**values)):
        parts.append(event.text)
        last = event
    return "".join(parts), last


@pytest.fixture(scope="module")
def compile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compiled")


@pytest.fixture(scope="module")
def backend(compile_root: Path) -> Iterator[LlamaCppBackend]:
    loaded = LlamaCppBackend(smollm2_dir(), {"gguf_file": GGUF, "max_sequences": 8},
                             threads=2, digest="smollm2-test", compile_root=compile_root)
    loaded.load()
    yield loaded
    loaded.unload()


def engine_of(backend: LlamaCppBackend) -> LlamaEngine:
    assert isinstance(backend.engine, LlamaEngine), backend.engine_reason
    return backend.engine


def test_the_f16_build_was_checked_against_the_transformers_engine(
        backend: LlamaCppBackend, compile_root: Path) -> None:
    engine_of(backend)
    report = json.loads((compile_root / "smollm2-test-gguf-f16" / "report.json").read_text())
    assert report["ok"] and report["equal"] == report["prompts"] == len(CHECK_PROMPTS)
    described = backend.describe()
    assert described["engine"] == "llama.cpp" and described["gguf_weights"] == "f16"


async def test_greedy_chat_answers_the_capital_of_france(backend: LlamaCppBackend) -> None:
    text, last = await generate(backend, chat("What is the capital of France?"), max_tokens=24)
    assert "Paris" in text
    assert last.finish_reason == "stop"
    assert last.prompt_tokens > 10 and 0 < last.completion_tokens < 24


async def test_same_seed_same_text_and_stop_and_length(backend: LlamaCppBackend) -> None:
    story = chat("Write a sentence about a cat.")
    first, _ = await generate(backend, story, temperature=0.9, seed=7, max_tokens=20)
    again, _ = await generate(backend, story, temperature=0.9, seed=7, max_tokens=20)
    assert first == again
    greedy, _ = await generate(backend, chat("What is the capital of France?"), max_tokens=24)
    cut = greedy.index("Paris")
    stopped, last = await generate(backend, chat("What is the capital of France?"),
                                   max_tokens=24, stop=["Paris"])
    assert stopped == greedy[:cut] and last.finish_reason == "stop"
    _, long = await generate(backend, chat("Tell me a long story."), max_tokens=5)
    assert long.finish_reason == "length" and long.completion_tokens == 5


async def test_many_streams_share_each_step(backend: LlamaCppBackend) -> None:
    engine = engine_of(backend)
    items = [chat(q) for q in ("What is the capital of France?", "Name three colours.",
                               "What is 2 + 2?", "Write a haiku about snow.")]
    steps = engine.steps
    together = await asyncio.gather(*(generate(backend, item) for item in items))
    assert "Paris" in together[0][0]
    assert all(text for text, _ in together)
    tokens = sum(e.completion_tokens for _, e in together)
    assert engine.steps - steps < tokens * 0.6  # one llama_decode served several streams


async def test_a_new_stream_joins_a_running_batch(backend: LlamaCppBackend) -> None:
    long_events: list[StreamEvent] = []

    async def long_stream() -> None:
        async for event in backend.stream(chat("Tell me a long story about a castle."),
                                          params(max_tokens=64)):
            long_events.append(event)

    runner = asyncio.create_task(long_stream())
    while len(long_events) < 3:
        await asyncio.sleep(0.01)
    text, _ = await generate(backend, chat("What is the capital of France?"), max_tokens=12)
    assert "Paris" in text
    assert not runner.done(), "the short request waited for the long one to finish"
    await runner
    assert long_events[-1].finish_reason == "length"


async def test_a_consumer_that_stops_frees_its_sequence_id(backend: LlamaCppBackend) -> None:
    engine = engine_of(backend)
    for _ in range(engine.limits.max_sequences + 2):  # more than there are sequence ids
        events = backend.stream(chat("Tell me a very long story."), params(max_tokens=200))
        assert (await anext(events)).finish_reason is None
        await events.aclose()
    deadline = asyncio.get_running_loop().time() + 10
    while engine.busy and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    assert not engine.busy and sorted(engine._free_slots) == list(range(8))
    text, _ = await generate(backend, chat("What is the capital of France?"), max_tokens=12)
    assert "Paris" in text  # a freed id's old cells do not leak into a new sequence


def test_bad_weights_setting_is_invalid_and_no_cache_falls_back(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="gguf_weights"):
        LlamaCppBackend(smollm2_dir(), {"gguf_file": GGUF, "gguf_weights": "q2"}, threads=1,
                        digest="x", compile_root=tmp_path)
    fallback = LlamaCppBackend(smollm2_dir(), {"gguf_file": GGUF}, threads=1, digest="",
                               compile_root=None)
    assert fallback._load_llama().startswith("no compile cache")
