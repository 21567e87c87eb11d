"""int8 builds of transformers text classifiers: the verified fp32 sequence-classifier export
(``sequence_onnx``) quantised with the same settings as embeddings (``quantize.build_int8``) and
measured against it on the same check texts.

The delta is what a classifier's user feels: the share of check texts whose top label (the
highest probability, ties to the first label, as served) changes from fp32 to int8, i.e.
``1 - agreement``. A model can keep every label and still move its scores, so the report also
holds ``max_abs_error``, the largest difference of any class probability (softmax, or sigmoid
for multi-label models, as served), and ``changed``, how many texts changed label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aiaas.runtime.compile import quantize, sequence_onnx
from aiaas.runtime.compile.cache import Compiled, cached
from aiaas.runtime.loaders import EncoderTokenizer, max_length

KIND = "seq-onnx-int8"
DELTA_MEANS = "the share of check texts whose top label differs between int8 and fp32"


def compiled(root: Path, digest: str, source: Path, *, threads: int, multi_label: bool) -> Compiled:
    """The measured int8 build of ``source``'s verified fp32 export, built on first use; not ok
    when the tokenizer cannot batch or the fp32 export failed its check (``reason`` says so)."""
    from transformers import AutoTokenizer

    hf_tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    problem = sequence_onnx.tokenizer_problem(hf_tokenizer)
    if problem:
        return Compiled(root / f"{digest}-{KIND}", {
            "ok": False, "reason": f"{problem}, so ONNX Runtime does not serve this classifier"})
    fp32 = sequence_onnx.compiled(root, digest, source, threads=threads, multi_label=multi_label)
    if not fp32.ok:
        return quantize.failed_fp32(fp32)
    return cached(root, digest, KIND, lambda target: classifier_int8(
        fp32.directory, source, target, hf_tokenizer, threads=threads, multi_label=multi_label))


def classifier_int8(fp32_dir: Path, source: Path, target: Path, hf_tokenizer: Any, *,
                    threads: int, multi_label: bool) -> dict[str, Any]:
    """Quantise ``fp32_dir/model.onnx`` into ``target`` and measure it; returns the report."""
    from transformers import AutoConfig

    limit = max_length(hf_tokenizer, AutoConfig.from_pretrained(str(source), local_files_only=True))

    def labels(fp32: np.ndarray[Any, Any], int8: np.ndarray[Any, Any]) -> dict[str, Any]:
        return compare_labels(fp32, int8, multi_label=multi_label)

    return quantize.build_int8(fp32_dir / sequence_onnx.MODEL_FILE, target,
                               EncoderTokenizer(source, limit), threads=threads, compare=labels)


def compare_labels(fp32_logits: np.ndarray[Any, Any], int8_logits: np.ndarray[Any, Any], *,
                   multi_label: bool) -> dict[str, Any]:
    """Top-label agreement and the largest probability difference of two logit batches."""
    expected = sequence_onnx.probabilities(fp32_logits, multi_label)
    got = sequence_onnx.probabilities(int8_logits, multi_label)
    same = expected.argmax(axis=1) == got.argmax(axis=1)
    agreement = float(same.mean())
    return {"delta": 1 - agreement, "delta_means": DELTA_MEANS, "agreement": agreement,
            "changed": int((~same).sum()), "max_abs_error": float(np.abs(expected - got).max())}
