"""The generation engine: one thread per loaded model, iteration-level (continuous) batching.

Each loop iteration is one *step*: drop cancelled sequences, admit waiting ones (bounded by
``max_sequences`` and the KV budget), prefill admitted prompts (up to ``prefill_chunk`` prompt
tokens per step, so a long prompt cannot stall the running streams), then run **one** forward
pass over every decoding sequence, sample one token per sequence and stream it out. A new request
therefore joins at the next step, and a finished one leaves at once. Every event carries the
running prompt and completion token counts, so a stream cut short is metered for what it used.

Sequences of models whose KV cache can be stacked (plain full attention) share one left-padded
cache (``KVGroup``); other models decode each sequence in its own group (still iteration-level,
one forward per sequence per step).

Bounds: at most ``max_waiting`` queued requests (``Overloaded`` past that), at most
``max_sequences`` running, and the padded KV footprint of the running set (rows x longest
reserved length, where a sequence reserves prompt + max_tokens) within ``max_kv_tokens``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

from aiaas.errors import AiaasError, BackendError, Invalid, Overloaded, Unavailable
from aiaas.runtime import process
from aiaas.runtime.generation.kv import KVGroup, stackable
from aiaas.runtime.generation.sampling import Sampler, choose_tokens
from aiaas.runtime.generation.text import Detokenizer, IncrementalDecoder, StopFilter
from aiaas.tasks.base import StreamEvent
from aiaas.tasks.generation_params import GenerationParams

log = logging.getLogger("aiaas.generation")
Sink = Callable[[StreamEvent | AiaasError], None]
"""Receives a sequence's events on the engine thread; must not block (e.g. call_soon_threadsafe)."""


@dataclass(frozen=True, slots=True)
class EngineLimits:
    max_sequences: int = 16
    max_waiting: int = 64
    max_kv_tokens: int = 16384
    prefill_chunk: int = 512


class Sequence:
    """One request inside the engine. ``cancelled`` may be set from any thread."""

    def __init__(self, prompt: list[int], params: GenerationParams, sink: Sink,
                 tokenizer: Detokenizer, device: torch.device) -> None:
        self.prompt = prompt
        self.params = params
        self.sink = sink
        self.sampler = Sampler(params, device)
        self.decoder = IncrementalDecoder(tokenizer)
        self.stops = StopFilter(params.stop)
        self.reserved = len(prompt) + params.max_tokens
        self.cache: DynamicCache | None = None
        self.prefilled = 0
        self.next_token = 0
        self.completion_tokens = 0
        self.cancelled = False
        self.done = False

    def emit(self, event: StreamEvent | AiaasError) -> None:
        try:
            self.sink(event)
        except RuntimeError:  # the consumer's event loop is gone
            self.cancelled = True


class Engine:
    def __init__(self, model: Any, tokenizer: Detokenizer, *, eos_ids: set[int],
                 limits: EngineLimits, threads: int, name: str,
                 domain_error: Callable[[Exception], AiaasError | None] = lambda exc: None
                 ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.limits = limits
        self.threads = threads
        self.name = name
        self.domain_error = domain_error
        """The backend's mapping of a failed step's exception (``Backend.domain_error``)."""
        self.device: torch.device = model.device
        self.stacked = stackable(model.config)
        self._forward_names = _forward_names(model)
        self._cond = threading.Condition()
        self._waiting: deque[Sequence] = deque()
        self._prefilling: list[Sequence] = []
        self._groups: list[KVGroup[Sequence]] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.steps = 0

    # -- called from other threads ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"generate-{self.name}", daemon=True)
        self._thread.start()

    def submit(self, prompt: list[int], params: GenerationParams, sink: Sink) -> Sequence:
        """Queue a generation; raise ``Invalid`` if it can never fit, ``Overloaded`` when the
        waiting queue is full."""
        sequence = Sequence(prompt, params, sink, self.tokenizer, self.device)
        if sequence.reserved > self.limits.max_kv_tokens:
            raise Invalid(f"the prompt ({len(prompt)} tokens) plus max_tokens ({params.max_tokens}) "
                          f"exceeds this model's KV budget of {self.limits.max_kv_tokens} tokens",
                          details={"field": "parameters.max_tokens"})
        with self._cond:
            if self._stopping:
                raise Unavailable(f"model {self.name!r} is unloading; retry", retry_after_s=2)
            if len(self._waiting) >= self.limits.max_waiting:
                raise Overloaded(f"model {self.name!r} has {len(self._waiting)} generations "
                                 "waiting; try again shortly", retry_after_s=1.0)
            self._waiting.append(sequence)
            self._cond.notify()
        return sequence

    def cancel(self, sequence: Sequence) -> None:
        """Free a sequence whose consumer went away (it leaves at the next step)."""
        with self._cond:
            sequence.cancelled = True
            if sequence in self._waiting:
                self._waiting.remove(sequence)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current step; every unfinished sequence gets ``Unavailable``."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._prefilling) + sum(len(group) for group in self._groups)

    @property
    def busy(self) -> bool:
        return bool(self._waiting) or self.running > 0

    # -- the engine thread -----------------------------------------------------------------------

    def _run(self) -> None:
        process.use_torch_threads(self.threads)
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._stopping and not self._waiting and not self.running:
                        self._cond.wait()
                    if self._stopping:
                        break
                    self._admit()
                try:
                    self._step()
                except Exception as exc:
                    self._fail_running(self._step_error(exc))
        with self._cond:
            error = Unavailable(f"model {self.name!r} was unloaded; retry", retry_after_s=2)
            for sequence in self._waiting:
                sequence.emit(error)
            self._waiting.clear()
            self._fail_running(error)

    def _step_error(self, exc: Exception) -> AiaasError:
        """What the running sequences get when a step fails: the backend's domain error (a GPU
        out of memory: retry), else a logged ``BackendError``."""
        mapped = self.domain_error(exc)
        if mapped is not None:
            log.warning("generation step of %s failed: %s", self.name, mapped.message)
            return mapped
        log.exception("generation step of %s failed", self.name)
        return BackendError(f"model {self.name!r} failed: {exc}")

    def _footprint(self, extra: Sequence) -> int:
        rows = [*self._prefilling, *(m for group in self._groups for m in group.members), extra]
        if self.stacked:
            return len(rows) * max(row.reserved for row in rows)
        return sum(row.reserved for row in rows)

    def _admit(self) -> None:
        while self._waiting and self.running < self.limits.max_sequences:
            head = self._waiting[0]
            if self.running and self._footprint(head) > self.limits.max_kv_tokens:
                return
            self._prefilling.append(self._waiting.popleft())

    def _step(self) -> None:
        self._drop_cancelled()
        self._prefill()
        self._decode()
        self.steps += 1

    def _drop_cancelled(self) -> None:
        self._prefilling = [s for s in self._prefilling if not s.cancelled]
        for group in self._groups:
            group.keep([row for row, member in enumerate(group.members) if not member.cancelled])
        self._groups = [group for group in self._groups if group]

    def _forward(self, cache: DynamicCache, **inputs: Any) -> torch.Tensor:
        cache_name, keeps_logits = self._forward_names
        if not keeps_logits:
            inputs.pop("logits_to_keep", None)
        output = self.model(**inputs, **{cache_name: cache}, use_cache=True)
        logits: torch.Tensor = output.logits[:, -1, :]
        return logits

    def _prefill(self) -> None:
        budget = self.limits.prefill_chunk
        for sequence in list(self._prefilling):
            if budget <= 0:
                return
            start = sequence.prefilled
            chunk = sequence.prompt[start:start + budget]
            if sequence.cache is None:
                sequence.cache = DynamicCache(config=self.model.config)
            logits = self._forward(
                sequence.cache,
                input_ids=torch.tensor([chunk], dtype=torch.long, device=self.device),
                position_ids=torch.arange(start, start + len(chunk), device=self.device).unsqueeze(0),
                logits_to_keep=1,
            )
            sequence.prefilled += len(chunk)
            budget -= len(chunk)
            if sequence.prefilled < len(sequence.prompt):
                continue
            self._prefilling.remove(sequence)
            if self._accept(sequence, sequence.sampler.choose(logits[0])):
                self._join(sequence)
            sequence.cache = None

    def _join(self, sequence: Sequence) -> None:
        assert sequence.cache is not None
        if not (self.stacked and self._groups):
            self._groups.append(KVGroup(self.model.config, self.device))
        self._groups[0 if self.stacked else -1].add(sequence, sequence.cache, sequence.prefilled)

    def _decode(self) -> None:
        for group in self._groups:
            inputs = group.step_inputs([member.next_token for member in group.members])
            assert group.cache is not None
            logits = self._forward(group.cache, **inputs)
            group.advance(inputs["attention_mask"])
            tokens = choose_tokens(logits, [member.sampler for member in group.members])
            group.keep([row for row, (member, token) in enumerate(zip(group.members, tokens, strict=True))
                        if self._accept(member, token)])
        self._groups = [group for group in self._groups if group]

    def _accept(self, sequence: Sequence, token: int) -> bool:
        """Take one generated token; stream its text; return False when the sequence is done."""
        sequence.completion_tokens += 1
        if token in self.eos_ids:
            self._finish(sequence, "", "stop")
            return False
        text, stopped = sequence.stops.feed(sequence.decoder.push(token))
        if stopped:
            self._finish(sequence, text, "stop", flush=False)
            return False
        if sequence.completion_tokens >= sequence.params.max_tokens:
            self._finish(sequence, text, "length")
            return False
        if text:
            sequence.emit(StreamEvent(text=text, prompt_tokens=len(sequence.prompt),
                                      completion_tokens=sequence.completion_tokens))
        sequence.next_token = token
        return not sequence.cancelled

    def _finish(self, sequence: Sequence, text: str, reason: str, *, flush: bool = True) -> None:
        if flush:
            tail, stopped = sequence.stops.feed(sequence.decoder.flush())
            text += tail if stopped else tail + sequence.stops.flush()
            reason = "stop" if stopped else reason
        sequence.done = True
        sequence.emit(StreamEvent(text=text, finish_reason=reason, prompt_tokens=len(sequence.prompt),
                                  completion_tokens=sequence.completion_tokens))

    def _fail_running(self, error: AiaasError) -> None:
        for sequence in [*self._prefilling, *(m for group in self._groups for m in group.members)]:
            sequence.emit(error)
        self._prefilling, self._groups = [], []


def _forward_names(model: Any) -> tuple[str, bool]:
    """The cache argument's name (``cache`` in newer transformers, else ``past_key_values``) and
    whether the model takes ``logits_to_keep``."""
    import inspect

    parameters = inspect.signature(model.forward).parameters
    return ("cache" if "cache" in parameters else "past_key_values"), "logits_to_keep" in parameters
