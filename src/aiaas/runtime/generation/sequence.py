"""One generation inside the engine: its prompt, its owner (the tenant the scheduler is fair
between), its sampling state and how far its prefill has got."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from transformers import DynamicCache

from aiaas.errors import AiaasError
from aiaas.runtime.generation.sampling import Sampler
from aiaas.runtime.generation.text import Detokenizer, IncrementalDecoder, StopFilter
from aiaas.tasks.base import StreamEvent
from aiaas.tasks.generation_params import GenerationParams

Sink = Callable[[StreamEvent | AiaasError], None]
"""Receives a sequence's events on the engine thread; must not block (e.g. call_soon_threadsafe)."""


class Sequence:
    """One request inside the engine. ``cancelled`` may be set from any thread; the engine
    checks it before every forward pass that would work for this sequence."""

    def __init__(self, prompt: list[int], params: GenerationParams, sink: Sink,
                 tokenizer: Detokenizer, *, tenant: str = "") -> None:
        self.prompt = prompt
        self.params = params
        self.sink = sink
        self.tenant = tenant
        self.sampler = Sampler(params)
        self.decoder = IncrementalDecoder(tokenizer)
        self.stops = StopFilter(params.stop)
        self.reserved = len(prompt) + params.max_tokens
        self.cache: DynamicCache | None = None
        self.prefilled = 0
        self.chunks = 0
        """Prefill forward passes run for this sequence so far."""
        self.passed_over = 0
        """Times another sequence was admitted while this one, at the head of its tenant's
        queue, did not fit the KV budget (bounded: see ``Scheduler``)."""
        self.next_token = 0
        self.completion_tokens = 0
        self.cancelled = False
        self.done = False

    @property
    def remaining_prompt(self) -> int:
        return len(self.prompt) - self.prefilled

    def emit(self, event: StreamEvent | AiaasError) -> None:
        try:
            self.sink(event)
        except RuntimeError:  # the consumer's event loop is gone
            self.cancelled = True


def accept(sequence: Sequence, token: int, eos_ids: set[int]) -> bool:
    """Take one generated token; stream its text; False when the sequence is done (an
    end-of-sequence token, a stop string, ``max_tokens``, or its consumer gone)."""
    sequence.completion_tokens += 1
    if token in eos_ids:
        finish(sequence, "", "stop")
        return False
    text, stopped = sequence.stops.feed(sequence.decoder.push(token))
    if stopped:
        finish(sequence, text, "stop", flush=False)
        return False
    if sequence.completion_tokens >= sequence.params.max_tokens:
        finish(sequence, text, "length")
        return False
    if text:
        sequence.emit(StreamEvent(text=text, prompt_tokens=len(sequence.prompt),
                                  completion_tokens=sequence.completion_tokens))
    sequence.next_token = token
    return not sequence.cancelled


def finish(sequence: Sequence, text: str, reason: str, *, flush: bool = True) -> None:
    """The sequence's last event: the text held back for stop strings, and why it ended."""
    if flush:
        tail, stopped = sequence.stops.feed(sequence.decoder.flush())
        text += tail if stopped else tail + sequence.stops.flush()
        reason = "stop" if stopped else reason
    sequence.done = True
    sequence.emit(StreamEvent(text=text, finish_reason=reason, prompt_tokens=len(sequence.prompt),
                              completion_tokens=sequence.completion_tokens))


class GenerationEngine(Protocol):
    """What a backend needs of an engine (``engine.Engine``, ``llama_cpp.LlamaEngine``)."""

    def start(self) -> None: ...

    def submit(self, prompt: list[int], params: GenerationParams, sink: Sink, *,
               tenant: str = "") -> Sequence: ...

    def cancel(self, sequence: Sequence) -> None: ...

    def stop(self, timeout: float = 10.0) -> None: ...

    def stats(self) -> dict[str, int]: ...

    @property
    def busy(self) -> bool: ...
