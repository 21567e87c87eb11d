"""Hugging Face causal language models (a GGUF file or a safetensors directory) behind the
generation engine: ``stream`` tokenises on a worker thread, queues the sequence on the model's
engine thread and relays its events to the event loop. No model code runs on the event loop.

Every item of a request is tokenised and bounded by ``prepare`` before any of them reaches the
engine: each prompt plus ``max_tokens`` within the model's context, and the request's prompts
together within ``max_request_tokens`` (the context by default), so one request of many long
items is refused (4xx naming the item) rather than queued. Sequences carry the caller's tenant,
which the engine's scheduler is fair between.

Loading is offline (``local_files_only``), never with remote code; GGUF weights are dequantised
by transformers (fp32 on the CPU). The version config may tune the engine: ``max_sequences``,
``max_waiting``, ``max_kv_tokens``, ``step_tokens`` (see ``EngineLimits``) and
``max_request_tokens``.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiaas.errors import AiaasError, Invalid, Unavailable
from aiaas.runtime import process
from aiaas.runtime.backends.base import StreamingBackend
from aiaas.runtime.generation.engine import Engine, EngineLimits
from aiaas.runtime.generation.sequence import GenerationEngine
from aiaas.tasks.base import StreamEvent, item_field
from aiaas.tasks.generation_params import GenerationParams

KV_BUDGET_BYTES = 512 * 1024 * 1024
"""Default KV-cache memory for the running set of one model (turned into ``max_kv_tokens``)."""


class LockedTokenizer:
    """Fast tokenizers are not safe to use from two threads at once: every use takes the lock."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.lock = threading.Lock()

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool) -> str:
        with self.lock:
            text: str = self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)
        return text


@dataclass(frozen=True, slots=True)
class Prompt:
    """An item tokenised and checked against the bounds by ``prepare``."""

    ids: tuple[int, ...]


class CausalLMBackend(StreamingBackend):
    def __init__(self, path: Path, config: dict[str, Any], *, threads: int) -> None:
        super().__init__(path, config)
        self.threads = threads
        self.model: Any = None
        self.tokenizer: LockedTokenizer | None = None
        self.engine: GenerationEngine | None = None
        self.context_length = 0
        self._kv_bytes = 0

    def load(self) -> None:
        process.use_torch_threads(self.threads)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
        gguf_file = self.config.get("gguf_file")
        if gguf_file is not None:
            if Path(str(gguf_file)).name != gguf_file or not (self.path / gguf_file).is_file():
                raise Invalid(f"the version's gguf_file {gguf_file!r} is not a file of the model")
            kwargs["gguf_file"] = gguf_file
        cuda = torch.cuda.is_available()
        dtype = torch.bfloat16 if cuda else torch.float32
        tokenizer: Any = AutoTokenizer.from_pretrained(str(self.path), **kwargs)
        model: Any = AutoModelForCausalLM.from_pretrained(str(self.path), dtype=dtype, **kwargs)
        self.device = "cuda" if cuda else "cpu"
        model.to(self.device).eval()
        self.model = model
        self.tokenizer = LockedTokenizer(tokenizer)
        self.context_length = int(getattr(model.config, "max_position_embeddings", 0)
                                  or self.config.get("context_length") or 2048)
        self.request_tokens = int(self.config.get("max_request_tokens") or self.context_length)
        per_token = _kv_bytes_per_token(model.config, dtype.itemsize)
        default = EngineLimits()
        limits = EngineLimits(
            max_sequences=int(self.config.get("max_sequences", default.max_sequences)),
            max_waiting=int(self.config.get("max_waiting", default.max_waiting)),
            max_kv_tokens=int(self.config.get("max_kv_tokens")
                              or (KV_BUDGET_BYTES // per_token if per_token else default.max_kv_tokens)),
            step_tokens=int(self.config.get("step_tokens", default.step_tokens)),
        )
        self._kv_bytes = limits.max_kv_tokens * per_token
        engine = Engine(model, self.tokenizer, eos_ids=_eos_ids(model, tokenizer), limits=limits,
                             threads=self.threads or torch.get_num_threads(),
                             name=self.label or self.path.name[:12],
                             domain_error=self.domain_error)
        engine.start()
        self.engine = engine

    async def prepare(self, items: list[Any], parameters: dict[str, Any]) -> list[Any]:
        """The items as ``Prompt``s, each within the context with its ``max_tokens`` and all
        within ``request_tokens``; ``Invalid`` naming the first item past a bound (tokenising
        stops there)."""
        params = GenerationParams.of(parameters)
        return await asyncio.to_thread(self._prompts, items, params)

    def _prompts(self, items: list[Any], params: GenerationParams) -> list[Prompt]:
        prompts: list[Prompt] = []
        total = 0
        for index, item in enumerate(items):
            ids = self.encode(item, index)
            needed = len(ids) + params.max_tokens
            if needed > self.context_length:
                raise Invalid.at(item_field(index), f"the prompt is {len(ids)} tokens; with "
                                 f"max_tokens={params.max_tokens} it needs {needed}, more than "
                                 f"the model's context of {self.context_length} tokens",
                                 index=index, context_length=self.context_length)
            total += len(ids)
            if total > self.request_tokens:
                raise Invalid.at(item_field(index), f"the request's prompts reach {total} tokens "
                                 f"with this item, more than the {self.request_tokens} tokens a "
                                 "request may hold", index=index, limit=self.request_tokens)
            prompts.append(Prompt(tuple(ids)))
        return prompts

    async def stream(self, item: Any, parameters: dict[str, Any], *,
                     tenant: str = "") -> AsyncIterator[StreamEvent]:
        engine = self.engine
        if engine is None:
            raise Unavailable("the model is not loaded; retry", retry_after_s=2)
        params = GenerationParams.of(parameters)
        [prompt] = [item] if isinstance(item, Prompt) else await self.prepare([item], parameters)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[StreamEvent | AiaasError] = asyncio.Queue()

        def sink(event: StreamEvent | AiaasError) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        sequence = engine.submit(list(prompt.ids), params, sink, tenant=tenant)
        try:
            while True:
                event = await events.get()
                if isinstance(event, AiaasError):
                    raise event
                yield event
                if event.finish_reason is not None:
                    return
        finally:
            if not sequence.done:
                engine.cancel(sequence)

    def encode(self, item: Any, index: int = 0) -> list[int]:
        """Token ids of a chat item (through the model's chat template) or a prompt string;
        errors name ``inputs[index]``."""
        if self.tokenizer is None:
            raise Unavailable("the model is not loaded; retry", retry_after_s=2)
        tokenizer = self.tokenizer.tokenizer
        with self.tokenizer.lock:
            if isinstance(item, dict):
                if not getattr(tokenizer, "chat_template", None):
                    raise Invalid.at(item_field(index), "this model has no chat template; register "
                                     "it for the completion task and send a prompt", index=index)
                try:
                    encoded = tokenizer.apply_chat_template(item["messages"], add_generation_prompt=True,
                                                            tokenize=True, return_dict=True)
                except Exception as exc:  # jinja2 TemplateError raised by the model's own template
                    raise Invalid.at(item_field(index), "the model's chat template refused these "
                                     f"messages: {exc}", index=index) from exc
                ids = encoded["input_ids"]
            else:
                ids = tokenizer(str(item), add_special_tokens=True)["input_ids"]
        if not ids:
            raise Invalid.at(item_field(index), "the prompt has no tokens", index=index)
        return [int(token) for token in ids]

    def describe(self) -> dict[str, Any]:
        """The engine, and its sequences running and waiting (``GET /api/v1/runtime``)."""
        described = super().describe()
        if self.engine is not None:
            described["generation"] = self.engine.stats()
        return described

    @property
    def busy(self) -> bool:
        """True while any generation is queued or running (the model should not be unloaded)."""
        return self.engine is not None and self.engine.busy

    def unload(self) -> None:
        if self.engine is not None:
            self.engine.stop()
        self.engine = None
        self.model = None
        self.tokenizer = None
        gc.collect()

    def memory_bytes(self) -> int:
        if self.model is None:
            return super().memory_bytes()
        weights = sum(p.numel() * p.element_size() for p in self.model.parameters())
        return int(weights + self._kv_bytes)


def _kv_bytes_per_token(config: Any, itemsize: int) -> int:
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    layers = getattr(text, "num_hidden_layers", None)
    heads = getattr(text, "num_attention_heads", None)
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or (
        text.hidden_size // heads if heads and getattr(text, "hidden_size", None) else None)
    if not (isinstance(layers, int) and isinstance(kv_heads, int) and isinstance(head_dim, int)):
        return 0
    return layers * 2 * kv_heads * head_dim * itemsize


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every end-of-sequence id the model, its generation config or its tokenizer declares."""
    found: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None),
                  getattr(model.config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, list | tuple):
            found.update(v for v in value if isinstance(v, int))
    return found
