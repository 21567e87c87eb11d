"""The generation engine with the real SmolLM2-135M-Instruct weights (loaded once for the module):
greedy answers, seeded sampling, stop strings across token boundaries, length limits, batched
results equal to solo ones, joining a running batch, freeing cancelled streams, the queue and KV
bounds."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import pytest

from aiaas.errors import Invalid, Overloaded, Unavailable
from aiaas.runtime.backends.causal_lm import CausalLMBackend
from aiaas.runtime.generation.engine import Engine
from aiaas.runtime.generation.scheduler import EngineLimits
from aiaas.tasks.base import StreamEvent
from aiaas.tasks.generation_params import GenerationParams, check_generation_parameters


def chat(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def params(**values: Any) -> dict[str, Any]:
    return check_generation_parameters({"max_tokens": 16, "temperature": 0, **values})


async def generate(backend: CausalLMBackend, item: Any, **values: Any) -> tuple[str, StreamEvent]:
    parts: list[str] = []
    last = StreamEvent()
    async for event in backend.stream(item, params(**values)):
        parts.append(event.text)
        last = event
    return "".join(parts), last


async def wait_until_idle(engine: Engine, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while engine.busy and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not engine.busy


async def wait_until_running(engine: Engine, count: int, seconds: float = 10) -> None:
    """The first token is streamed a moment before its sequence joins a decode group."""
    deadline = time.monotonic() + seconds
    while engine.running != count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert engine.running == count


async def test_greedy_chat_answers_the_capital_of_france(backend: CausalLMBackend) -> None:
    text, last = await generate(backend, chat("What is the capital of France?"), max_tokens=24)
    assert "Paris" in text
    assert last.finish_reason == "stop"
    assert last.prompt_tokens > 10 and 0 < last.completion_tokens < 24


async def test_completion_continues_a_prompt(backend: CausalLMBackend) -> None:
    text, last = await generate(backend, "The capital of France is", max_tokens=6)
    assert text.strip() and last.completion_tokens <= 6


async def test_same_seed_same_text_and_sampling_differs_from_greedy(backend: CausalLMBackend) -> None:
    item = chat("Write one sentence about the sea.")
    first, _ = await generate(backend, item, temperature=1.0, seed=1234, max_tokens=20)
    again, _ = await generate(backend, item, temperature=1.0, seed=1234, max_tokens=20)
    assert first == again
    others = {(await generate(backend, item, temperature=1.0, seed=seed, max_tokens=20))[0]
              for seed in (1, 2, 3)}
    assert len(others | {first}) > 1


async def test_stop_string_cuts_the_output_and_is_not_emitted(backend: CausalLMBackend) -> None:
    item = chat("Count from 1 to 10, separated by commas.")
    full, _ = await generate(backend, item, max_tokens=30)
    stop = full[len(full) // 2:len(full) // 2 + 3]
    assert stop.strip(), full
    text, last = await generate(backend, item, max_tokens=30, stop=["@@never@@", stop])
    assert text == full[:full.index(stop)]
    assert last.finish_reason == "stop"


async def test_max_tokens_ends_with_length_after_exactly_that_many(backend: CausalLMBackend) -> None:
    text, last = await generate(backend, chat("Tell me a long story about a dragon."), max_tokens=5)
    assert last.finish_reason == "length"
    assert last.completion_tokens == 5
    assert text


async def test_concurrent_streams_equal_solo_runs_and_share_steps(backend: CausalLMBackend) -> None:
    assert backend.engine is not None
    items = [chat(q) for q in ("What is the capital of France?", "Name three colours.",
                               "What is 2 + 2?", "Write a haiku about snow.")]
    alone = [await generate(backend, item) for item in items]
    steps = backend.engine.steps
    together = await asyncio.gather(*(generate(backend, item) for item in items))
    assert [text for text, _ in together] == [text for text, _ in alone]
    assert [e.completion_tokens for _, e in together] == [e.completion_tokens for _, e in alone]
    # One forward pass served several sequences: far fewer steps than tokens.
    tokens = sum(e.completion_tokens for _, e in together)
    assert backend.engine.steps - steps < tokens * 0.6


async def test_a_new_stream_joins_a_running_batch(backend: CausalLMBackend) -> None:
    long_events: list[StreamEvent] = []

    async def long_stream() -> None:
        async for event in backend.stream(chat("Tell me a long story about a castle."),
                                          params(max_tokens=48)):
            long_events.append(event)

    runner = asyncio.create_task(long_stream())
    while len(long_events) < 3:
        await asyncio.sleep(0.01)
    text, _ = await generate(backend, chat("What is the capital of France?"), max_tokens=12)
    assert "Paris" in text
    assert not runner.done(), "the short request waited for the long one to finish"
    await runner
    assert long_events[-1].finish_reason == "length"


async def test_a_consumer_that_stops_frees_its_sequence(backend: CausalLMBackend) -> None:
    assert backend.engine is not None
    events = backend.stream(chat("Tell me a very long story."), params(max_tokens=200))
    first = await anext(events)
    assert first.finish_reason is None
    await wait_until_running(backend.engine, 1)
    await events.aclose()
    await wait_until_idle(backend.engine)

    abandoned = backend.stream(chat("Tell me another long story."), params(max_tokens=200))
    await anext(abandoned)
    del abandoned
    gc.collect()
    await wait_until_idle(backend.engine)


async def test_prompt_plus_max_tokens_past_the_context_is_invalid(backend: CausalLMBackend) -> None:
    context = backend.context_length
    backend.context_length = 40
    try:
        with pytest.raises(Invalid, match="context of 40 tokens"):
            await generate(backend, chat("What is the capital of France?"), max_tokens=16)
    finally:
        backend.context_length = context


async def test_waiting_queue_and_kv_budget_are_bounded(backend: CausalLMBackend) -> None:
    assert backend.tokenizer is not None
    limits = EngineLimits(max_sequences=1, max_waiting=1, max_kv_tokens=200)
    engine = Engine(backend.model, backend.tokenizer, eos_ids=set(), limits=limits, threads=1,
                    name="bounded")
    prompt = backend.encode(chat("Hello"))
    with pytest.raises(Invalid, match="KV budget of 200"):
        engine.submit(prompt, GenerationParams(max_tokens=190), lambda event: None)
    received: list[StreamEvent | Exception] = []
    loop = asyncio.get_running_loop()

    def sink(event: Any) -> None:
        loop.call_soon_threadsafe(received.append, event)

    # Not started yet: the first waits, the second is one too many.
    engine.submit(prompt, GenerationParams(max_tokens=4, temperature=0), sink)
    with pytest.raises(Overloaded):
        engine.submit(prompt, GenerationParams(max_tokens=4, temperature=0), sink)
    engine.start()
    try:
        deadline = time.monotonic() + 30
        while not any(isinstance(e, StreamEvent) and e.finish_reason for e in received):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        engine.stop()
    last = received[-1]
    assert isinstance(last, StreamEvent) and last.completion_tokens == 4


async def test_a_failed_step_fails_its_streams_with_the_backends_domain_error(
        backend: CausalLMBackend) -> None:
    """A GPU out of memory mid-generation (a fake of torch's, raised by the forward pass) is
    what the backend's hook says, a 503 to retry, not a 500."""
    assert backend.tokenizer is not None
    out_of_memory = type("OutOfMemoryError", (RuntimeError,), {"__module__": "torch.cuda"})
    engine = Engine(backend.model, backend.tokenizer, eos_ids=set(), limits=EngineLimits(),
                    threads=1, name="oom", domain_error=backend.domain_error)

    def forward(*args: Any, **kwargs: Any) -> Any:
        raise out_of_memory("CUDA out of memory. Tried to allocate 2.00 GiB")

    engine._forward = forward  # type: ignore[method-assign]
    received: list[StreamEvent | Exception] = []
    loop = asyncio.get_running_loop()
    engine.submit(backend.encode(chat("Hello")), GenerationParams(max_tokens=4),
                  lambda event: loop.call_soon_threadsafe(received.append, event))
    engine.start()
    try:
        deadline = time.monotonic() + 30
        while not received:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
    finally:
        engine.stop()
    [failure] = received
    assert isinstance(failure, Unavailable)
    assert failure.message == "the model ran out of memory on cpu; retry with fewer inputs"
