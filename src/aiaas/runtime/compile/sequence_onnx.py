"""Export a transformers ``*ForSequenceClassification`` directory to ONNX (logits out) and verify
it against transformers: the largest difference of the class probabilities (softmax, or sigmoid
for multi-label) over sample texts must be <= ``MAX_ABS_ERROR``. The check tokenises with the
serving backend's tokenizer, so a tokenizer mismatch fails it too.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.runtime import process
from aiaas.runtime.compile.cache import Compiled, cached
from aiaas.runtime.compile.sentence_onnx import FEATURES, SAMPLES
from aiaas.runtime.loaders import EncoderTokenizer, max_length, open_session

MAX_ABS_ERROR = 1e-4
MODEL_FILE = "model.onnx"


KIND = "seq-onnx-fp32"


def compiled(root: Path, digest: str, source: Path, *, threads: int, multi_label: bool) -> Compiled:
    """The verified fp32 export of ``source`` (artifact ``digest``), built on first use."""
    return cached(root, digest, KIND, lambda target: export(source, target, threads=threads,
                                                           multi_label=multi_label))


def tokenizer_problem(hf_tokenizer: Any) -> str:
    """Why the ONNX path cannot batch with this tokenizer, or "" (decoder-style classifiers often
    have no pad token; the batching tokenizer needs the fast version)."""
    if hf_tokenizer.pad_token is None or not hf_tokenizer.is_fast:
        return "the tokenizer has no pad token or no fast version"
    return ""


def probabilities(logits: np.ndarray[Any, Any], multi_label: bool) -> np.ndarray[Any, Any]:
    logits = logits.astype(np.float64)
    if multi_label:
        result: np.ndarray[Any, Any] = 1 / (1 + np.exp(-logits))
        return result
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    normalised: np.ndarray[Any, Any] = shifted / shifted.sum(axis=1, keepdims=True)
    return normalised


def export(source: Path, target: Path, *, threads: int, multi_label: bool) -> dict[str, Any]:
    """Write ``target/model.onnx`` and return the verification report."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    started = time.perf_counter()
    process.use_torch_threads(threads)
    hf_tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(source), local_files_only=True, trust_remote_code=False, use_safetensors=True).eval()
    names = [name for name in FEATURES if name in hf_tokenizer(["x"])]

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *features: torch.Tensor) -> torch.Tensor:
            output: torch.Tensor = self.model(**dict(zip(names, features, strict=True))).logits
            return output

    limit = max_length(hf_tokenizer, model.config)
    example = hf_tokenizer(["an example", "a slightly longer example input"], padding=True,
                           return_tensors="pt")
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Logits().eval(), tuple(example[name] for name in names), str(target / MODEL_FILE),
                          input_names=names, output_names=["logits"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
        model.eval()  # the exporter restores the wrapper's (training) mode on the way out
        encoded = hf_tokenizer(SAMPLES, padding=True, truncation=True, max_length=limit,
                               return_tensors="pt")
        expected = model(**encoded).logits.float().numpy()
    tokenizer = EncoderTokenizer(source, limit)
    session = open_session(target / MODEL_FILE, threads=threads)
    got = session.run(None, tokenizer.feeds(SAMPLES, [i.name for i in session.get_inputs()]))[0]
    return probability_check(expected, got, multi_label=multi_label, bound=MAX_ABS_ERROR,
                             started=started)


def probability_check(expected: np.ndarray[Any, Any], got: np.ndarray[Any, Any], *,
                      multi_label: bool, bound: float, started: float) -> dict[str, Any]:
    """The report of a classifier export's check (text or image): transformers' logits
    ``expected`` against the export's ``got``, compared as the class probabilities served."""
    if got.shape != expected.shape:
        return {"ok": False, "reason": f"ONNX output shape {got.shape} != {expected.shape}"}
    error = float(np.abs(probabilities(expected, multi_label) - probabilities(got, multi_label)).max())
    report: dict[str, Any] = {"ok": error <= bound, "max_abs_error": error,
                              "samples": len(expected), "bounds": {"max_abs_error": bound},
                              "export_seconds": round(time.perf_counter() - started, 2)}
    if not report["ok"]:
        report["reason"] = (f"ONNX export differs from transformers: max probability error "
                            f"{error:.2e} (<= {bound} needed)")
    return report
