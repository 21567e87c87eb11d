"""OpenVINO as the CPU engine for a verified ONNX export, in bf16 where the CPU computes it.

ONNX Runtime's fp32 kernels are not this machine's ceiling. On the graph aiaas exports for
all-MiniLM-L6-v2 (batches of 32 sentences, one process, interleaved rounds, a Xeon with AMX and
AVX512_BF16) OpenVINO ran 1.07-1.1x ONNX Runtime's throughput in fp32 and 3.4-4x in bf16, with a
lowest cosine of 0.99997 to the fp32 vectors (``bench/encoder_engines.py``).

So a verified export is opened on OpenVINO when it is installed and the version runs on the
CPU: in bf16 when the CPU reports native bf16 (``OPTIMIZATION_CAPABILITIES``; an emulated bf16
would be slower than fp32, so a CPU without it never gets bf16), else in fp32. It serves only
if its outputs on the export's own check samples agree with ONNX Runtime's fp32 outputs within
the bound the caller gives (for embeddings cosine >= 0.9999: bf16 then counts as equivalent to
fp32); otherwise the next precision is tried and then ONNX Runtime serves, the reason kept.

It serves on one session with all the model's threads, not on ``onnx_lanes``: OpenVINO's own
threads do not stall the way ONNX Runtime's barriers do. On the same 2-core machine, raw, one
two-thread bf16 session computed 1,246 sentences/s against 803 for two single-thread sessions
side by side; served over HTTP at 32 clients (``bench/serving.py``) one session gave 646 req/s,
p99 81 ms, against 416 req/s, p99 133 ms with two lanes.

OpenVINO's gain is in batches. A lone item can be slower on it than on ONNX Runtime (one MiniLM
sentence: 2.65 against 2.37 ms on a 2-core EPYC), so at load both are timed on one item and,
where ONNX Runtime is clearly faster, its session (the reference just checked against) answers
one-item batches (``single_item_session``): served at one client, p50 went from 4.4 to 2.9 ms.

``OvSession`` has the one method of an ``onnxruntime.InferenceSession`` the backends call
(``run``), so ``SessionLanes`` hands out either kind.
"""

from __future__ import annotations

import functools
import logging
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("aiaas.runtime")

PRECISIONS = {"bf16": "bf16", "fp32": "f32"}
"""Our precision names, OpenVINO's ``INFERENCE_PRECISION_HINT`` values."""
PROBABILITY_BOUND = 1e-3
"""How far a classifier's probabilities on OpenVINO may be from ONNX Runtime's fp32 ones for
OpenVINO to serve it (bf16 within it counts as fp32-equivalent)."""


@functools.cache
def _core() -> Any:
    import openvino as ov

    return ov.Core()


def unavailable() -> str:
    """Why OpenVINO cannot run here ("" when it can)."""
    try:
        _core()
    except Exception as exc:  # not installed, or no CPU plugin: ONNX Runtime serves
        return f"OpenVINO is not available: {type(exc).__name__}: {exc}"
    return ""


@functools.cache
def native_bf16() -> bool:
    """Whether the CPU computes bf16 itself (AVX512_BF16 or AMX), as OpenVINO reports it."""
    try:
        return "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:
        return False


def precisions() -> list[str]:
    """The precisions to try, fastest first: bf16 only on a CPU with native bf16."""
    return ["bf16", "fp32"] if native_bf16() else ["fp32"]


class OvSession:
    """One compiled model and one infer request, answering like an ONNX Runtime session. Not
    for two threads at once (each lane holds its own)."""

    def __init__(self, model_file: Path, *, threads: int, precision: str) -> None:
        config = {"INFERENCE_PRECISION_HINT": PRECISIONS[precision], "NUM_STREAMS": 1,
                  "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = _core().compile_model(str(model_file), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        self.precision = precision

    def run(self, _output_names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every output, in the graph's order, as arrays the caller owns."""
        results = self.request.infer(feeds, share_outputs=False)
        return [results[port] for port in self.compiled.outputs]


def open_checked(model_file: Path, *, threads: int,
                 agrees: Callable[[OvSession], str]) -> tuple[OvSession | None, str]:
    """The fastest OpenVINO session on ``model_file`` that ``agrees`` (it returns "" when the
    session's outputs match the reference, else why not), or ``None``; and why each faster
    precision was not used."""
    reasons: list[str] = []
    for precision in precisions():
        try:
            session = OvSession(model_file, threads=threads, precision=precision)
            problem = agrees(session)
        except Exception as exc:  # a graph OpenVINO cannot compile or run: the next choice
            problem = f"{type(exc).__name__}: {exc}"
        if not problem:
            return session, "; ".join(reasons)
        reasons.append(f"OpenVINO {precision}: {problem}")
        log.info("%s: %s", model_file.parent.name, reasons[-1])
    return None, "; ".join(reasons)


SINGLE_ITEM_RUNS = 15
"""Timed runs of each engine on one item at load (alternating, after one warm-up run each)."""
SINGLE_ITEM_MARGIN = 0.95
"""ONNX Runtime answers one-item batches only when its median is under this share of
OpenVINO's: a clear win, not noise."""


def single_item_session(reference: Any, chosen: OvSession, feeds: dict[str, np.ndarray]) -> Any:
    """``reference`` (the ONNX Runtime session of the same graph) when it computes one item
    clearly faster than OpenVINO, else None. OpenVINO's gain is in batches: on a 2-core EPYC,
    one MiniLM sentence took 2.65 ms on OpenVINO bf16 against 2.37 ms on ONNX Runtime fp32
    (``bench/serving.py``, raw single calls), so a lone caller would wait longer for it."""
    sessions = (reference, chosen)
    timings: tuple[list[float], list[float]] = ([], [])
    for session in sessions:
        session.run(None, feeds)
    for _ in range(SINGLE_ITEM_RUNS):
        for session, times in zip(sessions, timings, strict=True):
            started = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - started)
    onnx_runtime, openvino = (statistics.median(times) for times in timings)
    log.info("one item: ONNX Runtime %.2f ms, OpenVINO %.2f ms", 1000 * onnx_runtime,
             1000 * openvino)
    return reference if onnx_runtime < SINGLE_ITEM_MARGIN * openvino else None


def probability_problem(got: np.ndarray, expected: np.ndarray, *, multi_label: bool,
                        bound: float = PROBABILITY_BOUND) -> str:
    """"" when the probabilities of logits ``got`` are within ``bound`` of those of
    ``expected`` (softmax, or sigmoid for multi-label), else the largest difference."""
    from aiaas.runtime.compile.sequence_onnx import probabilities

    error = float(np.abs(probabilities(np.asarray(got, dtype=np.float64), multi_label)
                         - probabilities(np.asarray(expected, dtype=np.float64),
                                         multi_label)).max())
    return "" if error <= bound else f"max probability error {error:.2e} > {bound}"


def cosine_problem(got: np.ndarray, expected: np.ndarray, min_cosine: float) -> str:
    """"" when every row of ``got`` has cosine >= ``min_cosine`` to the same row of
    ``expected``, else the lowest one."""
    norms = np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1)
    cosines = np.sum(got * expected, axis=1) / np.maximum(norms, 1e-12)
    lowest = float(cosines.min())
    return "" if lowest >= min_cosine else f"min cosine {lowest:.6f} < {min_cosine}"
