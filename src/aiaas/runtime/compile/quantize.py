"""int8 builds: ONNX Runtime's dynamic quantisation of a verified fp32 export, with the accuracy
it costs measured against that fp32 graph on a fixed check set.

Weights of the MatMuls are quantised per channel (reduced range, safe on CPUs without VNNI);
MatMuls of two activations (attention scores) and the embedding lookups stay fp32: quantising
those costs far more accuracy than it saves time (all-MiniLM-L6-v2: min cosine 0.92 against 0.98).

For embeddings the delta is ``1 - min cosine`` between int8 and fp32 vectors over the check set
(``sentence_onnx.SAMPLES`` plus a few hundred generated sentences); the runtime serves the int8
graph only when a version asks for it and the delta is within the version's bound.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.runtime.compile import sentence_onnx
from aiaas.runtime.compile.cache import Compiled, cached

INT8_FILE = "model.int8.onnx"
SENTENCE = ("the patient record shows normal values while traffic sensors count cars on the ring "
            "road and the bank flags a late payment for review before the branch opens today")


KIND = "st-onnx-int8"


def compiled(root: Path, digest: str, source: Path, *, threads: int) -> Compiled:
    """The measured int8 build of ``source``'s verified fp32 export, built on first use; not ok
    when the fp32 export itself failed its check (``reason`` says so)."""
    fp32 = sentence_onnx.compiled(root, digest, source, threads=threads)
    if not fp32.ok:
        return Compiled(fp32.directory, {"ok": False, "reason": f"the fp32 export failed its "
                                                                 f"check ({fp32.reason})"})
    return cached(root, digest, KIND,
                  lambda target: embedding_int8(fp32.directory, source, target, threads=threads))


def check_texts(count: int = 256, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    generated = [" ".join(rng.choices(SENTENCE.split(" "), k=rng.randint(3, 40))) for _ in range(count)]
    return [*sentence_onnx.SAMPLES, *generated]


def embedding_int8(fp32_dir: Path, source: Path, target: Path, *, threads: int) -> dict[str, Any]:
    """Quantise ``fp32_dir/model.onnx`` into ``target`` and measure it; returns the report."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from aiaas.runtime.backends.onnx_embedding import EncoderTokenizer, open_encoder

    started = time.perf_counter()
    source_file = fp32_dir / sentence_onnx.MODEL_FILE
    quantize_dynamic(str(source_file), str(target / INT8_FILE), weight_type=QuantType.QInt8,
                     per_channel=True, reduce_range=True, op_types_to_quantize=["MatMul"],
                     nodes_to_exclude=_activation_matmuls(source_file))
    tokenizer = EncoderTokenizer(source)
    texts = check_texts()
    fp32 = open_encoder(fp32_dir / sentence_onnx.MODEL_FILE, threads=threads)
    int8 = open_encoder(target / INT8_FILE, threads=threads)
    names = [i.name for i in fp32.get_inputs()]
    expected, got = [], []
    for start in range(0, len(texts), 32):
        feeds = tokenizer.feeds(texts[start:start + 32], names)
        expected.append(fp32.run(None, feeds)[0])
        got.append(int8.run(None, feeds)[0])
    a, b = np.concatenate(expected).astype(np.float64), np.concatenate(got).astype(np.float64)
    cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return {"ok": True, "cosine_min": float(cosine.min()), "cosine_mean": float(cosine.mean()),
            "delta": float(1 - cosine.min()), "samples": len(texts),
            "size_bytes": (target / INT8_FILE).stat().st_size,
            "build_seconds": round(time.perf_counter() - started, 2)}


def _activation_matmuls(model_file: Path) -> list[str]:
    """MatMul nodes neither of whose inputs is a weight (an initializer or a constant)."""
    import onnx

    graph = onnx.load(str(model_file), load_external_data=False).graph
    weights = {i.name for i in graph.initializer} | {
        out for node in graph.node if node.op_type == "Constant" for out in node.output}
    return [node.name for node in graph.node
            if node.op_type == "MatMul" and not any(name in weights for name in node.input)]
