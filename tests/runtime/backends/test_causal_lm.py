"""The causal-LM backend on tiny transformers directories (a stacked-cache Llama and a
sliding-window Mistral that decodes each sequence alone): detected, loaded, and batched
streams equal to solo ones."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aiaas.formats import detect
from aiaas.runtime.backends.causal_lm import CausalLMBackend
from aiaas.tasks.base import StreamEvent
from aiaas.tasks.generation_params import check_generation_parameters
from tests.runtime.tiny_models import build_causal_lm


async def collect(backend: CausalLMBackend, item: Any, **values: Any) -> tuple[str, StreamEvent]:
    params = check_generation_parameters({"max_tokens": 12, "temperature": 0, **values})
    parts, last = [], StreamEvent()
    async for event in backend.stream(item, params):
        parts.append(event.text)
        last = event
    return "".join(parts), last


@pytest.mark.parametrize("sliding_window", [None, 6], ids=["stacked-llama", "sliding-mistral"])
async def test_tiny_causal_lm_directory_detects_loads_and_batches(tmp_path: Path,
                                                                  sliding_window: int | None) -> None:
    root = build_causal_lm(tmp_path / "lm", sliding_window=sliding_window)
    detected = detect(root)
    assert detected.format == "transformers-causal-lm" and detected.tasks == ("chat", "completion")
    assert detected.config["context_length"] == 256
    backend = CausalLMBackend(root, dict(detected.config), threads=1)
    backend.load()
    try:
        assert backend.engine is not None and backend.engine.stacked is (sliding_window is None)
        items = [{"messages": [{"role": "user", "content": text}]}
                 for text in ("hello", "the cat sat on the mat today", "Grüße", "how are you?")]
        alone = [await collect(backend, item, max_tokens=10) for item in items]
        together = await asyncio.gather(*(collect(backend, item, max_tokens=10) for item in items))
        assert together == alone
        _, last = await collect(backend, "the cat", max_tokens=7)
        assert last.completion_tokens <= 7 and last.finish_reason in ("stop", "length")
    finally:
        backend.unload()
