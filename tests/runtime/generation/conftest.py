"""The real SmolLM2-135M-Instruct backend, loaded once for the whole package.

A load takes ~15 s; each test builds engines of its own on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiaas.runtime.backends.causal_lm import CausalLMBackend
from tests.runtime.conftest import GGUF, smollm2_dir


@pytest.fixture(scope="package")
def backend() -> Iterator[CausalLMBackend]:
    loaded = CausalLMBackend(smollm2_dir(), {"gguf_file": GGUF}, threads=1)
    loaded.load()
    yield loaded
    loaded.unload()
