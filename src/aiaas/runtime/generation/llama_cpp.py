"""The llama.cpp generation engine: continuous batching on llama.cpp's own batch API.

The same contract as ``engine.Engine`` (``submit``, ``cancel``, ``stop``, ``stats``): the same
``Scheduler`` (tenants in turn, a step's prefill bounded, the KV budget), the same ``Sequence``
(sampling with its own seeded generator, incremental detokenising, stop strings, token counts).
What changes is the step: every running sequence's next token and this step's prefill chunks
go into **one** ``llama_decode`` call, each sequence under its own llama.cpp sequence id in one
unified KV cache of ``max_kv_tokens`` cells, so decoding many streams costs one pass over the
weights per step rather than one per stream. A finished or cancelled sequence's cells are freed
at once (``llama_memory_seq_rm``), and its id goes back to the pool.

Logits are read straight from llama.cpp's buffer (no copy) and sampled by the sequence's own
``Sampler``, so seeds and temperature mean what they mean on the transformers engine.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aiaas.errors import AiaasError, BackendError, Invalid, Unavailable
from aiaas.runtime.generation.scheduler import EngineLimits, Scheduler
from aiaas.runtime.generation.sequence import Sequence, Sink, accept
from aiaas.runtime.generation.text import Detokenizer
from aiaas.tasks.generation_params import GenerationParams

log = logging.getLogger("aiaas.generation")
ATTENTION_SCALE = 4096.0
"""The scheduler's cost model (see ``scheduler.attention_scale``): llama.cpp does not expose
per-layer parameter counts, and for the small models it serves here attention is cheap."""
_init_lock = threading.Lock()
_initialised = False


def _backend_init(lib: Any) -> None:
    """Once per process: llama.cpp's backend, its log through Python's (warnings and up: it
    prints every tensor it loads otherwise), and the two /dev/null handles the package opens
    at import closed at exit."""
    global _initialised
    with _init_lock:
        if not _initialised:
            from llama_cpp import _logger, _utils

            _logger.set_verbose(False)
            logging.getLogger("llama-cpp-python").setLevel(logging.WARNING)
            atexit.register(_utils.outnull_file.close)
            atexit.register(_utils.errnull_file.close)
            lib.llama_backend_init()
            _initialised = True


class LlamaModel:
    """A GGUF file loaded by llama.cpp, with what the engine and the backend need to know."""

    def __init__(self, file: Path) -> None:
        import llama_cpp

        _backend_init(llama_cpp)
        self.lib = llama_cpp
        self.file = file
        self.handle = llama_cpp.llama_model_load_from_file(
            str(file).encode(), llama_cpp.llama_model_default_params())
        if not self.handle:
            raise BackendError(f"llama.cpp could not load {file.name}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.handle)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.context_length = int(llama_cpp.llama_model_n_ctx_train(self.handle))

    def end_of_generation_ids(self) -> set[int]:
        lib = self.lib
        return {token for token in (lib.llama_vocab_eos(self.vocab), lib.llama_vocab_eot(self.vocab))
                if token >= 0}

    def free(self) -> None:
        if self.handle:
            self.lib.llama_model_free(self.handle)
            self.handle = None


class LlamaEngine:
    def __init__(self, model: LlamaModel, tokenizer: Detokenizer, *, eos_ids: set[int],
                 limits: EngineLimits, threads: int, name: str,
                 domain_error: Callable[[Exception], AiaasError | None] = lambda exc: None
                 ) -> None:
        lib = model.lib
        self.lib, self.model, self.tokenizer = lib, model, tokenizer
        self.eos_ids = eos_ids | model.end_of_generation_ids()
        self.limits, self.threads, self.name = limits, threads, name
        self.domain_error = domain_error
        self.capacity = limits.prefill_chunk + limits.max_sequences
        """Tokens one ``llama_decode`` takes: a prefill chunk beside every decoding row."""
        params = lib.llama_context_default_params()
        params.n_ctx = limits.max_kv_tokens
        params.n_batch = params.n_ubatch = self.capacity
        params.n_seq_max = limits.max_sequences
        params.n_threads = params.n_threads_batch = max(1, threads)
        params.kv_unified = True
        params.no_perf = True
        self._ctx = lib.llama_init_from_model(model.handle, params)
        if not self._ctx:
            raise BackendError(f"llama.cpp could not make a context for {name} "
                               f"({limits.max_kv_tokens} KV tokens)")
        self._memory = lib.llama_get_memory(self._ctx)
        self._batch = lib.llama_batch_init(self.capacity, 0, 1)
        self.scheduler = Scheduler(limits, stacked=False, attention_scale=ATTENTION_SCALE,
                                   name=name)
        self._cond = threading.Condition()
        self._free_slots = list(range(limits.max_sequences))
        self._slots: dict[Sequence, int] = {}
        self._prefilling: list[Sequence] = []
        self._decoding: list[Sequence] = []
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.steps = 0
        self.prefill_chunks = 0

    # -- called from other threads ---------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"generate-{self.name}", daemon=True)
        self._thread.start()

    def submit(self, prompt: list[int], params: GenerationParams, sink: Sink, *,
               tenant: str = "") -> Sequence:
        """Queue a generation behind ``tenant``'s others; ``Invalid`` if it can never fit,
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
        """Its consumer went away: out of the queue now; no step works for it after this one."""
        with self._cond:
            sequence.cancelled = True
            self.scheduler.remove(sequence)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current step; every unfinished sequence gets ``Unavailable``; the
        context is freed (the model is the caller's)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._thread is None or not self._thread.is_alive():
            self._free()

    @property
    def waiting(self) -> int:
        return self.scheduler.waiting

    @property
    def prefilling(self) -> int:
        return len(self._prefilling)

    @property
    def running(self) -> int:
        return len(self._prefilling) + len(self._decoding)

    @property
    def busy(self) -> bool:
        return bool(self.scheduler.waiting) or self.running > 0

    def stats(self) -> dict[str, int]:
        return {"running": self.running, "prefilling": self.prefilling, "waiting": self.waiting,
                "prefill_chunks": self.prefill_chunks}

    # -- the engine thread -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self.scheduler.waiting and not self.running:
                    self._cond.wait()
                if self._stopping:
                    break
                self._drop_cancelled()
                for sequence in self.scheduler.admit([*self._prefilling, *self._decoding]):
                    self._slots[sequence] = self._free_slots.pop()
                    self._prefilling.append(sequence)
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
        mapped = self.domain_error(exc)
        if mapped is not None:
            log.warning("generation step of %s failed: %s", self.name, mapped.message)
            return mapped
        log.exception("generation step of %s failed", self.name)
        return BackendError(f"model {self.name} failed: {exc}")

    def _step(self) -> None:
        rows: list[tuple[Sequence, int, int, bool]] = []
        """(sequence, token, position, whether its logits are read)"""
        for sequence in self._decoding:
            position = len(sequence.prompt) + sequence.completion_tokens - 1
            rows.append((sequence, sequence.next_token, position, True))
        room = self.capacity - len(rows)
        decode_work = self.scheduler.cost(0, len(rows))
        chunks: list[tuple[Sequence, int]] = []
        for sequence, tokens in self.scheduler.plan(self._prefilling, decode_work):
            tokens = min(tokens, room)
            if sequence.cancelled or tokens <= 0:
                continue
            start = sequence.prefilled
            last = len(sequence.prompt) - 1
            rows += [(sequence, token, start + offset, start + offset == last)
                     for offset, token in enumerate(sequence.prompt[start:start + tokens])]
            chunks.append((sequence, tokens))
            room -= tokens
        if not rows:
            return
        self._decode(rows)
        for sequence, tokens in chunks:
            sequence.prefilled += tokens
            sequence.chunks += 1
            self.prefill_chunks += 1
        logits_rows = [(index, row[0]) for index, row in enumerate(rows) if row[3]]
        for index, sequence in logits_rows:
            token = sequence.sampler.choose(self._logits(index))
            first = sequence in self._prefilling
            if accept(sequence, token, self.eos_ids):
                if first:
                    self._prefilling.remove(sequence)
                    self._decoding.append(sequence)
            else:  # its id is free before it stops counting as running (``busy``)
                self._release(sequence)
                (self._prefilling if first else self._decoding).remove(sequence)
        self.steps += 1

    def _decode(self, rows: list[tuple[Sequence, int, int, bool]]) -> None:
        batch = self._batch
        for index, (sequence, token, position, logits) in enumerate(rows):
            batch.token[index] = token
            batch.pos[index] = position
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = self._slots[sequence]
            batch.logits[index] = logits
        batch.n_tokens = len(rows)
        code = self.lib.llama_decode(self._ctx, batch)
        if code != 0:
            raise BackendError(f"llama.cpp could not decode a step of {len(rows)} tokens "
                               f"(llama_decode returned {code})")

    def _logits(self, index: int) -> torch.Tensor:
        pointer = self.lib.llama_get_logits_ith(self._ctx, index)
        return torch.from_numpy(np.ctypeslib.as_array(pointer, shape=(self.model.n_vocab,)))

    def _release(self, sequence: Sequence) -> None:
        slot = self._slots.pop(sequence, None)
        if slot is not None:
            self.lib.llama_memory_seq_rm(self._memory, slot, -1, -1)
            self._free_slots.append(slot)

    def _drop_cancelled(self) -> None:
        for rows in (self._prefilling, self._decoding):
            for sequence in [s for s in rows if s.cancelled]:
                self._release(sequence)
                rows.remove(sequence)

    def _fail_running(self, error: AiaasError) -> None:
        for sequence in [*self._prefilling, *self._decoding]:
            sequence.emit(error)
            self._release(sequence)
        self._prefilling, self._decoding = [], []

    def _free(self) -> None:
        if self._ctx:
            self.lib.llama_batch_free(self._batch)
            self.lib.llama_free(self._ctx)
            self._ctx = None
