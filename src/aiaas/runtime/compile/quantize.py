"""int8 builds: ONNX Runtime's dynamic quantisation of a verified fp32 export, with the accuracy
it costs measured against that fp32 graph on a fixed check set (``check_texts``:
``sentence_onnx.SAMPLES`` plus a few hundred generated sentences, the same for every kind).

Weights of the MatMuls are quantised per channel (reduced range, safe on CPUs without VNNI);
MatMuls of two activations (attention scores) and the embedding lookups stay fp32: quantising
those costs far more accuracy than it saves time (all-MiniLM-L6-v2: min cosine 0.92 against 0.98).

Each kind reports one ``delta`` in [0, 1], the loss a version's ``max_accuracy_delta`` bounds;
the runtime serves the int8 graph only when a version asks for it and the delta is within that
bound. This module is the embedding kind, where the delta is ``1 - min cosine`` between int8 and
fp32 vectors over the check set (``DELTA_MEANS``), plus ``build_int8``, the quantise-and-measure
step every kind shares; text classifiers are ``quantize_classifier``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.runtime.compile import sentence_onnx
from aiaas.runtime.compile.cache import Compiled, cached
from aiaas.runtime.loaders import EncoderTokenizer, open_session, sorted_chunks

INT8_FILE = "model.int8.onnx"
SENTENCE = ("the patient record shows normal values while traffic sensors count cars on the ring "
            "road and the bank flags a late payment for review before the branch opens today")
Compare = Callable[[np.ndarray[Any, Any], np.ndarray[Any, Any]], dict[str, Any]]


KIND = "st-onnx-int8"
DELTA_MEANS = "1 - the lowest cosine between int8 and fp32 embeddings over the check texts"


def compiled(root: Path, digest: str, source: Path, *, threads: int) -> Compiled:
    """The measured int8 build of ``source``'s verified fp32 export, built on first use; not ok
    when the fp32 export itself failed its check (``reason`` says so)."""
    fp32 = sentence_onnx.compiled(root, digest, source, threads=threads)
    if not fp32.ok:
        return failed_fp32(fp32)
    return cached(root, digest, KIND,
                  lambda target: embedding_int8(fp32.directory, source, target, threads=threads))


def failed_fp32(fp32: Compiled) -> Compiled:
    """No int8 build without a verified fp32 export: what there is to quantise and compare with."""
    return Compiled(fp32.directory, {"ok": False,
                                     "reason": f"the fp32 ONNX export failed its check ({fp32.reason})"})


def check_texts(count: int = 256, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    generated = [" ".join(rng.choices(SENTENCE.split(" "), k=rng.randint(3, 40))) for _ in range(count)]
    return [*sentence_onnx.SAMPLES, *generated]


def embedding_int8(fp32_dir: Path, source: Path, target: Path, *, threads: int) -> dict[str, Any]:
    """Quantise ``fp32_dir/model.onnx`` into ``target`` and measure it; returns the report."""
    return build_int8(fp32_dir / sentence_onnx.MODEL_FILE, target, EncoderTokenizer(source),
                      threads=threads, compare=_cosines)


def _cosines(fp32: np.ndarray[Any, Any], int8: np.ndarray[Any, Any]) -> dict[str, Any]:
    cosine = (fp32 * int8).sum(axis=1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(int8, axis=1)
    return {"delta": float(1 - cosine.min()), "delta_means": DELTA_MEANS,
            "cosine_min": float(cosine.min()), "cosine_mean": float(cosine.mean())}


def build_int8(fp32_file: Path, target: Path, tokenizer: Any, *, threads: int,
               compare: Compare) -> dict[str, Any]:
    """Quantise ``fp32_file`` into ``target/INT8_FILE``, run both graphs over the check texts
    (tokenised by ``tokenizer``, an ``EncoderTokenizer``) and return the ok report: what
    ``compare(fp32 outputs, int8 outputs)`` measured (``delta`` at least), the sample count, the
    int8 file's size and the build time.

    The texts run in the sub-batches the backends cut (``sorted_chunks``): int8 activations are
    scaled per batch, so an int8 output depends a little on its batch mates, and this way the
    measure is what a backend serves for the check texts sent as one batch."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    quantize_dynamic(str(fp32_file), str(target / INT8_FILE), weight_type=QuantType.QInt8,
                     per_channel=True, reduce_range=True, op_types_to_quantize=["MatMul"],
                     nodes_to_exclude=_activation_matmuls(fp32_file))
    texts = check_texts()
    fp32 = open_session(fp32_file, threads=threads)
    int8 = open_session(target / INT8_FILE, threads=threads)
    names = [i.name for i in fp32.get_inputs()]
    order, expected, got = [], [], []
    for chunk in sorted_chunks(texts):
        feeds = tokenizer.feeds([texts[i] for i in chunk], names)
        order += chunk
        expected.append(fp32.run(None, feeds)[0])
        got.append(int8.run(None, feeds)[0])
    back = np.argsort(order)
    measured = compare(np.concatenate(expected)[back].astype(np.float64),
                       np.concatenate(got)[back].astype(np.float64))
    return {"ok": True, **measured, "samples": len(texts),
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
