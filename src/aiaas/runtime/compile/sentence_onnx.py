"""Export a sentence-transformers directory to one ONNX graph (transformer, pooling, dense and
normalise modules included) and verify it against sentence-transformers on sample texts.

The export passes when every sample's embedding has cosine >= ``MIN_COSINE`` to the PyTorch one
and the largest absolute difference of the unit-normalised vectors is <= ``MAX_ABS_ERROR``. The
comparison tokenises with the serving backend's own tokenizer, so a tokenizer mismatch fails the
check too.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.runtime import process
from aiaas.runtime.compile.cache import Compiled, cached
from aiaas.runtime.loaders import EncoderTokenizer, open_session

log = logging.getLogger("aiaas.runtime.compile")
MIN_COSINE = 0.9999
MAX_ABS_ERROR = 1e-4
MODEL_FILE = "model.onnx"
FEATURES = ("input_ids", "attention_mask", "token_type_ids")
SAMPLES = [
    "Hello world.",
    "The patient was discharged after three days with no complications.",
    "Traffic on the ring road is heavy between 7 and 9 in the morning.",
    "Überweisungen über 10.000 € werden zusätzlich geprüft.",
    "¿Dónde está la estación de tren más cercana?",
    "Short",
    "A payment of $1,250.00 was flagged for review because the card was used abroad.",
    "emoji 🙂 and symbols <>&\"' are text too",
    " ".join(["a very long input that goes past the model's maximum sequence length"] * 40),
]


KIND = "st-onnx-fp32"


def compiled(root: Path, digest: str, source: Path, *, threads: int) -> Compiled:
    """The verified fp32 export of ``source`` (artifact ``digest``), built on first use."""
    return cached(root, digest, KIND, lambda target: export(source, target, threads=threads))


def export(source: Path, target: Path, *, threads: int) -> dict[str, Any]:
    """Write ``target/model.onnx`` and return the verification report."""
    import torch
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    process.use_torch_threads(threads)
    model = SentenceTransformer(str(source), device="cpu", local_files_only=True,
                                trust_remote_code=False).eval()
    names = [name for name in FEATURES if name in model.tokenizer(["x"])]

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *features: torch.Tensor) -> torch.Tensor:
            output: torch.Tensor = self.model(dict(zip(names, features, strict=True)))["sentence_embedding"]
            return output

    example = model.tokenizer(["an example", "a slightly longer example input"], padding=True,
                              return_tensors="pt")
    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"embedding": {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(Wrapped().eval(), tuple(example[name] for name in names),
                          str(target / MODEL_FILE), input_names=names, output_names=["embedding"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
        expected = model.encode(SAMPLES, batch_size=len(SAMPLES), convert_to_numpy=True,
                                normalize_embeddings=False)
    tokenizer = EncoderTokenizer(source, model.get_max_seq_length())
    session = open_session(target / MODEL_FILE, threads=threads)
    got = session.run(None, tokenizer.feeds(SAMPLES, [i.name for i in session.get_inputs()]))[0]
    return _report(np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64),
                   time.perf_counter() - started)


def _report(expected: np.ndarray[Any, Any], got: np.ndarray[Any, Any], seconds: float) -> dict[str, Any]:
    if expected.shape != got.shape:
        return {"ok": False, "reason": f"ONNX output shape {got.shape} != {expected.shape}"}
    unit_e = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    unit_g = got / np.linalg.norm(got, axis=1, keepdims=True)
    cosine = float((unit_e * unit_g).sum(axis=1).min())
    max_abs = float(np.abs(unit_e - unit_g).max())
    ok = cosine >= MIN_COSINE and max_abs <= MAX_ABS_ERROR
    report: dict[str, Any] = {"ok": ok, "cosine_min": cosine, "max_abs_error": max_abs,
                              "samples": len(SAMPLES), "export_seconds": round(seconds, 2),
                              "bounds": {"cosine": MIN_COSINE, "max_abs_error": MAX_ABS_ERROR}}
    if not ok:
        report["reason"] = (f"ONNX export differs from sentence-transformers: min cosine "
                            f"{cosine:.6f} (>= {MIN_COSINE} needed), max abs error {max_abs:.2e} "
                            f"(<= {MAX_ABS_ERROR} needed)")
    return report
