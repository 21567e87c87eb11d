"""How a model's pieces are opened, shared by the backends that serve a model and the compile
step that exports and verifies it (``aiaas.runtime.compile``): so the export is checked with
exactly the session, tokenizer, length limit, image processor and sub-batches that serve it.
Imports run one way: backends -> compile -> loaders.

- ``open_session``: an ONNX Runtime session (CPU unless providers say otherwise).
- ``EncoderTokenizer``: the model's own fast tokenizer giving numpy feeds.
- ``max_length``: the longest input a transformers model takes.
- ``load_processor``: a transformers image processor (local files, no remote code).
- ``sorted_chunks``: indices of a batch by length, in sub-batches of ``SUB_BATCH``.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

SUB_BATCH = 32
FALLBACK_MAX_LENGTH = 512
# Tokenizers without a configured limit report a huge sentinel (int(1e30)).
_UNSET_LIMIT = 1_000_000


def open_session(model_file: Path, *, threads: int, providers: list[Any] | None = None) -> Any:
    """A session (CPU unless ``providers`` say otherwise) with ``threads`` intra-op threads
    (0 = onnxruntime's default) and one inter-op thread: each model already runs on its own
    worker thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    chosen = providers or ["CPUExecutionProvider"]
    return ort.InferenceSession(str(model_file), options, providers=chosen)


class EncoderTokenizer:
    """The model's own fast tokenizer, truncating at the model's max sequence length and padding
    with its pad token, returning numpy int64 feeds."""

    def __init__(self, path: Path, max_length: int | None = None) -> None:
        from transformers import AutoTokenizer

        settings = _sentence_config(path)
        hf = AutoTokenizer.from_pretrained(str(path), local_files_only=True, use_fast=True)
        if not hf.is_fast:
            raise ValueError("no fast tokenizer for this model")
        self.lower = bool(settings.get("do_lower_case", False))
        self.max_length = int(max_length or settings.get("max_seq_length") or hf.model_max_length)
        self.tokenizer = hf.backend_tokenizer
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding(pad_id=hf.pad_token_id or 0, pad_token=hf.pad_token or "[PAD]")

    def encode(self, texts: list[str]) -> dict[str, np.ndarray[Any, Any]]:
        encodings = self.tokenizer.encode_batch([t.lower() if self.lower else t for t in texts])
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    def feeds(self, texts: list[str], names: list[str]) -> dict[str, np.ndarray[Any, Any]]:
        encoded = self.encode(texts)
        return {name: encoded[name] for name in names}


def _sentence_config(path: Path) -> dict[str, Any]:
    file = path / "sentence_bert_config.json"
    loaded: dict[str, Any] = json.loads(file.read_text()) if file.is_file() else {}
    return loaded


def max_length(tokenizer: Any, model_config: Any) -> int:
    """The longest input the model takes: the tokenizer's limit, else the position table's."""
    limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
    if 0 < limit < _UNSET_LIMIT:
        return limit
    positions = getattr(model_config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        return positions
    return FALLBACK_MAX_LENGTH


def load_processor(path: Path) -> Any:
    """The directory's image processor (local files, no remote code), on Pillow when torchvision
    is missing; the ONNX export and both image backends use this, so all three see the same
    pixels."""
    from transformers import AutoImageProcessor

    options: dict[str, Any] = {}
    if importlib.util.find_spec("torchvision") is None:
        options["backend"] = "pil"
    return AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
        str(path), local_files_only=True, trust_remote_code=False, **options
    )


def sorted_chunks(items: list[Any]) -> Iterator[list[int]]:
    """Indices of ``items`` by length, cut into sub-batches, so short texts are not padded to
    the longest in a large batch."""
    order = sorted(range(len(items)), key=lambda i: len(items[i]))
    for start in range(0, len(order), SUB_BATCH):
        yield order[start:start + SUB_BATCH]
