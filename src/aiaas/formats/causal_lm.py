"""Causal language models, served for ``chat`` (when a chat template is present) and
``completion`` by the generation engine (``aiaas.runtime.generation``):

- ``gguf``: a directory with exactly one ``.gguf`` file whose header passes ``check_gguf`` and
  whose architecture transformers can load (it carries its own tokenizer).
- ``transformers-causal-lm``: ``config.json`` naming one ``*ForCausalLM`` class built into
  transformers, safetensors weights, tokenizer files, no remote-code hooks.

A directory's ``generation_config.json`` sampling (with ``do_sample``) becomes the version's
``sampling_defaults``; an ``aiaas.json`` ``sampling`` entry overrides it. ``transformers`` is
imported only inside the detectors, for its tables of loadable architectures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiaas.errors import Invalid
from aiaas.formats.gguf_check import check_gguf
from aiaas.formats.hf import (
    TOKENIZER_FILES,
    check_weights,
    identify,
    is_hf_directory,
    read_hf_config,
    refuse_loader_code,
)
from aiaas.formats.manifest import Detected, Manifest, read_json

GGUF_FORMAT = "gguf"
HF_FORMAT = "transformers-causal-lm"
FORMATS = (GGUF_FORMAT, HF_FORMAT)
TASKS = ("chat", "completion")
# GGUF architectures that transformers loads as a decoder-only causal LM.
GGUF_ARCHITECTURES = frozenset({
    "llama", "mistral", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "phi3", "gpt2", "starcoder2",
    "stablelm", "falcon", "bloom", "nemotron", "gemma2", "gemma3",
})
_GGUF_RENAMED = {"qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe"}
CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


def _tasks(has_chat_template: bool) -> tuple[str, ...]:
    return TASKS if has_chat_template else ("completion",)


def detect_gguf(root: Path, names: set[str], manifest: Manifest) -> Detected | None:
    """``Detected`` for a directory with a GGUF file, ``None`` without one; ``Invalid`` when
    the file cannot be served."""
    ggufs = sorted(name for name in names if name.lower().endswith(".gguf"))
    if not ggufs:
        return None
    if len(ggufs) != 1:
        raise Invalid(f"a GGUF model is one .gguf file; found {len(ggufs)} "
                      f"({', '.join(ggufs[:4])}); split GGUF files are not served")
    name = ggufs[0]
    summary = check_gguf(root / name, name)
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    loadable = _GGUF_RENAMED.get(summary.architecture, summary.architecture)
    if summary.architecture not in GGUF_ARCHITECTURES or loadable not in GGUF_SUPPORTED_ARCHITECTURES:
        raise Invalid(f"{name}: GGUF architecture {summary.architecture!r} is not served; served: "
                      f"{', '.join(sorted(GGUF_ARCHITECTURES))}", details={"file": name})
    if not summary.has_tokenizer:
        raise Invalid(f"{name} carries no tokenizer (tokenizer.ggml.*): it cannot be served",
                      details={"file": name})
    config: dict[str, str | int] = {"gguf_file": name, "architecture": summary.architecture}
    if summary.context_length:
        config["context_length"] = summary.context_length
    return Detected(GGUF_FORMAT, "transformers", _tasks(summary.has_chat_template), manifest,
                    config=config)


def _is_causal_lm_directory(root: Path, names: set[str]) -> bool:
    if not is_hf_directory(names):
        return False
    architectures = read_hf_config(root).get("architectures")
    return (isinstance(architectures, list) and len(architectures) == 1
            and isinstance(architectures[0], str) and architectures[0].endswith("ForCausalLM"))


def detect_causal_lm_directory(root: Path, names: set[str], manifest: Manifest) -> Detected | None:
    """``Detected`` for a transformers ``*ForCausalLM`` directory, ``None`` for any other;
    ``Invalid``/``UnsafeArtifact`` when it is one but unusable."""
    if not _is_causal_lm_directory(root, names):
        return None
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    refuse_loader_code(root, names)
    check_weights(root, names)
    config = read_hf_config(root)
    architecture, model_type = identify(config)
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise Invalid(f"{architecture} ({model_type}) is not a causal language model built into "
                      "transformers")
    if not any(name in names for name in TOKENIZER_FILES):
        raise Invalid(f"{architecture} needs its tokenizer: none of {', '.join(TOKENIZER_FILES)} "
                      "is in the directory (save it with tokenizer.save_pretrained)")
    has_template = any(name in names for name in CHAT_TEMPLATE_FILES)
    if not has_template and "tokenizer_config.json" in names:
        tokenizer_config = read_json(root / "tokenizer_config.json", "tokenizer_config.json")
        has_template = isinstance(tokenizer_config, dict) and bool(tokenizer_config.get("chat_template"))
    detected: dict[str, Any] = {"architecture": architecture, "model_type": model_type}
    context = config.get("max_position_embeddings") or config.get("n_positions")
    if isinstance(context, int) and context > 0:
        detected["context_length"] = context
    if "generation_config.json" in names:
        sampling = _sampling(read_json(root / "generation_config.json", "generation_config.json"))
        if sampling:
            detected["sampling_defaults"] = sampling
    return Detected(HF_FORMAT, "transformers", _tasks(has_template), manifest, config=detected)


def _sampling(generation_config: Any) -> dict[str, float]:
    """The author's sampling defaults from ``generation_config.json`` (as vLLM and transformers
    apply them), only when sampling is on and the values are in the API's ranges."""
    if not isinstance(generation_config, dict) or generation_config.get("do_sample") is not True:
        return {}
    found: dict[str, float] = {}
    temperature, top_p = generation_config.get("temperature"), generation_config.get("top_p")
    if isinstance(temperature, int | float) and not isinstance(temperature, bool) and 0 <= temperature <= 2:
        found["temperature"] = float(temperature)
    if isinstance(top_p, int | float) and not isinstance(top_p, bool) and 0 < top_p <= 1:
        found["top_p"] = float(top_p)
    return found
