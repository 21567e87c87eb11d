"""Fair generation with the real SmolLM2-135M-Instruct weights: a short chat from one tenant is
answered while another tenant's long prompts are still prefilling, a cancelled sequence stops
between two prefill chunks, waiting queues are served in turn by tenant, and a request's
prompts are bounded before any model work.

Order of events and counts of forward passes are asserted, never wall-clock times."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aiaas.errors import AiaasError, Invalid, Overloaded
from aiaas.runtime.backends.causal_lm import CausalLMBackend, Prompt
from aiaas.runtime.generation.engine import Engine
from aiaas.runtime.generation.scheduler import EngineLimits, Scheduler
from aiaas.runtime.generation.sequence import Sequence
from aiaas.tasks.base import StreamEvent
from aiaas.tasks.generation_params import GenerationParams, check_generation_parameters

LONG_TEXT = "Summarise this report about river barges and their cargo. " * 110
"""About 1,200 tokens once through the chat template."""


def chat(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


class Recorder:
    """Every event of every sequence, in the order the engine emitted them."""

    def __init__(self) -> None:
        self.log: list[tuple[str, StreamEvent | AiaasError]] = []

    def sink(self, name: str) -> Any:
        return lambda event: self.log.append((name, event))

    def finished(self, name: str) -> int | None:
        """Position in the log of ``name``'s last event, None while it runs."""
        for position, (who, event) in enumerate(self.log):
            if who == name and (isinstance(event, AiaasError) or event.finish_reason):
                return position
        return None

    def first(self, name: str) -> int | None:
        return next((position for position, (who, _) in enumerate(self.log) if who == name), None)


def wait_for(condition: Any, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def engine_of(backend: CausalLMBackend) -> Iterator[Any]:
    engines: list[Engine] = []

    def make(**limits: Any) -> Engine:
        assert backend.tokenizer is not None
        engine = Engine(backend.model, backend.tokenizer, eos_ids=set(), threads=1, name="fair:1",
                        limits=EngineLimits(**limits))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.stop()


def greedy(max_tokens: int) -> GenerationParams:
    return GenerationParams(max_tokens=max_tokens, temperature=0)


def test_a_short_chat_is_answered_while_long_prompts_prefill(
        backend: CausalLMBackend, engine_of: Any) -> None:
    """Tenant A's three long prompts (max_tokens 1, as in issue 11) are running when tenant B's
    short chat arrives: B's whole answer comes before any of A's prompts is prefilled, and A's
    prefill went in many chunks interleaved with B's steps."""
    engine: Engine = engine_of(step_tokens=96)
    long_prompt = backend.encode(chat(LONG_TEXT))
    short_prompt = backend.encode(chat("Name a colour."))
    assert len(long_prompt) > 1000 and len(short_prompt) < 60
    recorder = Recorder()
    long_ones = [engine.submit(long_prompt, greedy(1), recorder.sink(f"A{i}"), tenant="A")
                 for i in range(3)]
    engine.start()
    wait_for(lambda: engine.prefill_chunks >= 2)
    short = engine.submit(short_prompt, greedy(4), recorder.sink("B"), tenant="B")
    wait_for(lambda: all(recorder.finished(name) is not None for name in ("A0", "A1", "A2", "B")))

    b_done = recorder.finished("B")
    assert b_done is not None and short.completion_tokens == 4
    for name in ("A0", "A1", "A2"):
        a_done = recorder.finished(name)
        assert a_done is not None and b_done < a_done, recorder.log
    assert short.chunks == 1
    assert all(sequence.prefilled == len(long_prompt) for sequence in long_ones)
    assert long_ones[0].chunks >= 8, "the long prompt was prefilled in one or two big passes"


def test_cancel_stops_a_prefill_between_chunks(backend: CausalLMBackend, engine_of: Any) -> None:
    engine: Engine = engine_of(step_tokens=64)
    prompt = backend.encode(chat(LONG_TEXT))
    recorder = Recorder()
    sequence = engine.submit(prompt, greedy(1), recorder.sink("A"), tenant="A")
    engine.start()
    wait_for(lambda: sequence.chunks >= 2)
    engine.cancel(sequence)
    at_cancel = sequence.chunks
    wait_for(lambda: not engine.busy, 60)
    steps = engine.steps
    time.sleep(0.3)
    assert sequence.chunks <= at_cancel + 1, "prefill went on after the cancel"
    assert sequence.prefilled < len(prompt)
    assert engine.prefill_chunks == sequence.chunks and engine.steps == steps
    assert recorder.log == [], "a cancelled sequence produced a token"


def test_a_cancelled_waiting_sequence_never_runs(backend: CausalLMBackend, engine_of: Any) -> None:
    engine: Engine = engine_of(max_sequences=1, step_tokens=64)
    recorder = Recorder()
    running = engine.submit(backend.encode(chat(LONG_TEXT)), greedy(1), recorder.sink("A"),
                            tenant="A")
    queued = engine.submit(backend.encode(chat("Hello")), greedy(4), recorder.sink("B"),
                           tenant="B")
    engine.start()
    wait_for(lambda: running.chunks >= 1)
    assert engine.waiting == 1
    engine.cancel(queued)
    assert engine.waiting == 0
    wait_for(lambda: recorder.finished("A") is not None)
    assert queued.chunks == 0 and recorder.first("B") is None


def sequences(backend: CausalLMBackend, tenant: str, count: int, reserved: int) -> list[Sequence]:
    assert backend.tokenizer is not None
    return [Sequence([1] * (reserved - 1), greedy(1), lambda event: None, backend.tokenizer,
                     tenant=tenant) for _ in range(count)]


def test_waiting_tenants_are_admitted_in_turn(backend: CausalLMBackend) -> None:
    scheduler = Scheduler(EngineLimits(max_sequences=3, max_kv_tokens=10_000), stacked=True,
                          attention_scale=2048, name="m:1")
    flood = sequences(backend, "A", 5, 100)
    for sequence in flood:
        scheduler.add(sequence)
    [late] = sequences(backend, "B", 1, 100)
    scheduler.add(late)
    admitted = scheduler.admit([])
    assert admitted == [flood[0], late, flood[1]]
    assert scheduler.waiting == 3


def test_a_head_that_does_not_fit_is_passed_a_bounded_number_of_times(
        backend: CausalLMBackend) -> None:
    scheduler = Scheduler(EngineLimits(max_sequences=16, max_kv_tokens=1000, max_passes=2),
                          stacked=True, attention_scale=2048, name="m:1")
    [running] = sequences(backend, "C", 1, 500)
    [big] = sequences(backend, "A", 1, 600)
    small = sequences(backend, "B", 4, 50)
    scheduler.add(big)
    for sequence in small:
        scheduler.add(sequence)
    assert scheduler.admit([running]) == small[:2], "B goes ahead of A's head twice"
    assert big.passed_over == 2
    assert scheduler.admit([running, *small[:2]]) == [], "then the door is held for A's head"
    assert scheduler.admit([])[0] is big


def test_a_head_behind_its_own_tenants_work_does_not_hold_the_door(
        backend: CausalLMBackend) -> None:
    """Tenant A's second long prompt waits for A's first (the KV budget holds one), not for B:
    B's chats keep going ahead of it however many there are."""
    scheduler = Scheduler(EngineLimits(max_sequences=64, max_kv_tokens=1000, max_passes=2),
                          stacked=True, attention_scale=2048, name="m:1")
    first, second = sequences(backend, "A", 2, 600)
    small = sequences(backend, "B", 5, 50)
    scheduler.add(second)
    for sequence in small:
        scheduler.add(sequence)
    assert scheduler.admit([first]) == small
    assert second.passed_over == 0


def test_one_tenant_cannot_fill_the_waiting_queue(backend: CausalLMBackend) -> None:
    scheduler = Scheduler(EngineLimits(max_waiting=4), stacked=True, attention_scale=2048,
                          name="smollm2:1")
    for sequence in sequences(backend, "A", 2, 10):
        scheduler.add(sequence)
    with pytest.raises(Overloaded, match="smollm2:1 has 2 of your generations waiting"):
        scheduler.add(sequences(backend, "A", 1, 10)[0])
    for sequence in sequences(backend, "B", 2, 10):
        scheduler.add(sequence)


def test_a_step_splits_prefill_between_tenants_short_prompt_first(
        backend: CausalLMBackend) -> None:
    scheduler = Scheduler(EngineLimits(step_tokens=256), stacked=True, attention_scale=2048,
                          name="m:1")
    long_ones = sequences(backend, "A", 3, 7001)
    [short] = sequences(backend, "B", 1, 40)
    plan = scheduler.plan([*long_ones, short], decode_work=0)
    assert plan[0] == (short, 39)
    assert [sequence for sequence, _ in plan[1:]] == [long_ones[0]]
    assert 150 < plan[1][1] < 256 - 39
    long_ones[0].prefilled = 6000
    deep = scheduler.plan(long_ones, decode_work=0)
    assert deep[0][0] is long_ones[0] and deep[0][1] < 100, "deep chunks are weighed by depth"


async def test_a_request_is_bounded_in_tokens_before_any_model_work(
        backend: CausalLMBackend) -> None:
    assert backend.engine is not None
    steps = backend.engine.steps
    parameters = check_generation_parameters({"max_tokens": 4})
    third = backend.context_length // 3 + 200
    item = chat("barge " * third)
    with pytest.raises(Invalid) as refused:
        await backend.prepare([chat("Hello"), item, item, item], parameters)
    assert refused.value.field == "inputs[2]" and refused.value.index == 2
    assert f"more than the {backend.context_length} tokens a request may hold" in refused.value.message
    too_long = chat("barge " * (backend.context_length + 10))
    with pytest.raises(Invalid, match="context of") as alone:
        await backend.prepare([chat("Hello"), too_long], parameters)
    assert alone.value.field == "inputs[1]"
    [prompt] = await backend.prepare([chat("Hello")], parameters)
    assert isinstance(prompt, Prompt)
    await asyncio.sleep(0)
    assert backend.engine.steps == steps
