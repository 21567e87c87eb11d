"""The generation engine: one thread per loaded model, iteration-level (continuous) batching.

Each loop iteration is one *step*: drop cancelled sequences, admit waiting ones, run the prefill
chunks the scheduler planned for this step (``scheduler.py``: tenants served in turn, a step's
work bounded so a long prompt cannot stall the others), then **one** forward pass per decode
group, sample one token per sequence and stream it out. A new request therefore joins at the
next step, and a finished one leaves at once. Every event carries the running prompt and
completion token counts, so a stream cut short is metered for what it used. A cancelled
sequence (its client left) does no more work: it is checked before every forward pass.

Sequences of models whose KV cache can be stacked (plain full attention) share one left-padded
cache per length class (``KVGroup``); other models decode each sequence in its own group (still
iteration-level, one forward per sequence per step).

Bounds: the waiting queues (``Overloaded`` past them), at most ``max_sequences`` running, and the
KV footprint of the running set within ``max_kv_tokens`` (``EngineLimits``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import torch
from transformers import DynamicCache

from aiaas.errors import AiaasError, BackendError, Invalid, Unavailable
from aiaas.runtime import process
from aiaas.runtime.generation.kv import KVGroup, stackable
from aiaas.runtime.generation.sampling import choose_tokens
from aiaas.runtime.generation.scheduler import EngineLimits, Scheduler, attention_scale, length_class
from aiaas.runtime.generation.sequence import Sequence, Sink, accept
from aiaas.runtime.generation.text import Detokenizer
from aiaas.tasks.generation_params import GenerationParams

__all__ = ["Engine", "EngineLimits", "Sequence", "Sink"]
log = logging.getLogger("aiaas.generation")


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
        """The model as errors name it (``name:version``)."""
        self.domain_error = domain_error
        """The backend's mapping of a failed step's exception (``Backend.domain_error``)."""
        self.device: torch.device = model.device
        self.stacked = stackable(model.config)
        self.scheduler = Scheduler(limits, stacked=self.stacked,
                                   attention_scale=attention_scale(model), name=name)
        self._forward_names = _forward_names(model)
        self._cond = threading.Condition()
        self._prefilling: list[Sequence] = []
        self._groups: dict[object, KVGroup[Sequence]] = {}
        """Decode groups: per length class on a stacked model, else one per sequence."""
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.steps = 0
        self.prefill_chunks = 0
        """Prefill forward passes run, all sequences together."""

    # -- called from other threads ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"generate-{self.name}", daemon=True)
        self._thread.start()

    def submit(self, prompt: list[int], params: GenerationParams, sink: Sink, *,
               tenant: str = "") -> Sequence:
        """Queue a generation behind ``tenant``'s others; raise ``Invalid`` if it can never fit,
        ``Overloaded`` when the waiting queues are full."""
        sequence = Sequence(prompt, params, sink, self.tokenizer, tenant=tenant)
        if sequence.reserved > self.limits.max_kv_tokens:
            raise Invalid(f"the prompt ({len(prompt)} tokens) plus max_tokens ({params.max_tokens}) "
                          f"exceeds this model's KV budget of {self.limits.max_kv_tokens} tokens",
                          details={"field": "parameters.max_tokens"})
        with self._cond:
            if self._stopping:
                raise Unavailable(f"model {self.name} is unloading; retry", retry_after_s=2)
            self.scheduler.add(sequence)
            self._cond.notify()
        return sequence

    def cancel(self, sequence: Sequence) -> None:
        """Free a sequence whose consumer went away: out of the queue now, and no forward pass
        works for it once this returns (one already running finishes)."""
        with self._cond:
            sequence.cancelled = True
            self.scheduler.remove(sequence)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current step; every unfinished sequence gets ``Unavailable``."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def waiting(self) -> int:
        return self.scheduler.waiting

    @property
    def prefilling(self) -> int:
        return len(self._prefilling)

    @property
    def running(self) -> int:
        return len(self._prefilling) + sum(len(group) for group in self._groups.values())

    @property
    def busy(self) -> bool:
        return bool(self.scheduler.waiting) or self.running > 0

    def stats(self) -> dict[str, int]:
        """What an operator sees: sequences running (prefilling ones included) and waiting,
        and the prefill forward passes run since the model loaded."""
        return {"running": self.running, "prefilling": self.prefilling, "waiting": self.waiting,
                "prefill_chunks": self.prefill_chunks}

    # -- the engine thread -----------------------------------------------------------------------

    def _run(self) -> None:
        process.use_torch_threads(self.threads)
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._stopping and not self.scheduler.waiting and not self.running:
                        self._cond.wait()
                    if self._stopping:
                        break
                    self._drop_cancelled()
                    self._prefilling += self.scheduler.admit(self._rows())
                try:
                    self._step()
                except Exception as exc:
                    self._fail_running(self._step_error(exc))
        with self._cond:
            error = Unavailable(f"model {self.name} was unloaded; retry", retry_after_s=2)
            for sequence in self.scheduler.drain():
                sequence.emit(error)
            self._fail_running(error)

    def _step_error(self, exc: Exception) -> AiaasError:
        """What the running sequences get when a step fails: the backend's domain error (a GPU
        out of memory: retry), else a logged ``BackendError``."""
        mapped = self.domain_error(exc)
        if mapped is not None:
            log.warning("generation step of %s failed: %s", self.name, mapped.message)
            return mapped
        log.exception("generation step of %s failed", self.name)
        return BackendError(f"model {self.name} failed: {exc}")

    def _rows(self) -> list[Sequence]:
        return [*self._prefilling, *(m for group in self._groups.values() for m in group.members)]

    def _step(self) -> None:
        decode_work = sum(self.scheduler.cost(group.width, 1) * len(group)
                          for group in self._groups.values())
        for sequence, tokens in self.scheduler.plan(self._prefilling, decode_work):
            if not sequence.cancelled:
                self._prefill(sequence, tokens)
        self._drop_cancelled()
        self._decode()
        self.steps += 1

    def _drop_cancelled(self) -> None:
        self._prefilling = [s for s in self._prefilling if not s.cancelled]
        for group in self._groups.values():
            group.keep([row for row, member in enumerate(group.members) if not member.cancelled])
        self._groups = {key: group for key, group in self._groups.items() if group}

    def _forward(self, cache: DynamicCache, **inputs: Any) -> torch.Tensor:
        cache_name, keeps_logits = self._forward_names
        if not keeps_logits:
            inputs.pop("logits_to_keep", None)
        output = self.model(**inputs, **{cache_name: cache}, use_cache=True)
        logits: torch.Tensor = output.logits[:, -1, :]
        return logits

    def _prefill(self, sequence: Sequence, tokens: int) -> None:
        """One chunk of ``sequence``'s prompt; at its end, its first token."""
        start = sequence.prefilled
        chunk = sequence.prompt[start:start + tokens]
        if sequence.cache is None:
            sequence.cache = DynamicCache(config=self.model.config)
        logits = self._forward(
            sequence.cache,
            input_ids=torch.tensor([chunk], dtype=torch.long, device=self.device),
            position_ids=torch.arange(start, start + len(chunk), device=self.device).unsqueeze(0),
            logits_to_keep=1,
        )
        sequence.prefilled += len(chunk)
        sequence.chunks += 1
        self.prefill_chunks += 1
        if sequence.remaining_prompt > 0:
            return
        self._prefilling.remove(sequence)
        if accept(sequence, sequence.sampler.choose(logits[0]), self.eos_ids):
            self._join(sequence)
        sequence.cache = None

    def _join(self, sequence: Sequence) -> None:
        assert sequence.cache is not None
        key: object = length_class(sequence.reserved) if self.stacked else sequence
        group = self._groups.get(key)
        if group is None:  # a new dict: other threads count the groups (``running``)
            group = KVGroup(self.model.config, self.device)
            self._groups = {**self._groups, key: group}
        group.add(sequence, sequence.cache, sequence.prefilled)

    def _decode(self) -> None:
        for group in self._groups.values():
            inputs = group.step_inputs([member.next_token for member in group.members])
            assert group.cache is not None
            logits = self._forward(group.cache, **inputs)
            group.advance(inputs["attention_mask"])
            tokens = choose_tokens(logits, [member.sampler for member in group.members])
            group.keep([row for row, (member, token) in enumerate(zip(group.members, tokens, strict=True))
                        if accept(member, token, self.eos_ids)])
        self._groups = {key: group for key, group in self._groups.items() if group}

    def _fail_running(self, error: AiaasError) -> None:
        for sequence in self._rows():
            sequence.emit(error)
        self._prefilling, self._groups = [], {}


def _forward_names(model: Any) -> tuple[str, bool]:
    """The cache argument's name (``cache`` in newer transformers, else ``past_key_values``) and
    whether the model takes ``logits_to_keep``."""
    import inspect

    parameters = inspect.signature(model.forward).parameters
    return ("cache" if "cache" in parameters else "past_key_values"), "logits_to_keep" in parameters
