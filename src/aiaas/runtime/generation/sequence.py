"""One generation inside the engine: its prompt, its owner (the tenant the scheduler is fair
between), its sampling state and how far its prefill has got."""

from __future__ import annotations

from collections.abc import Callable

import torch
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
                 tokenizer: Detokenizer, device: torch.device, *, tenant: str = "") -> None:
        self.prompt = prompt
        self.params = params
        self.sink = sink
        self.tenant = tenant
        self.sampler = Sampler(params, device)
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
