"""What the ONNX Runtime backends for framework models share: load the verified export or fall
back to the framework backend with the reason logged and shown, and describe which engine serves.

A subclass implements ``_load_onnx`` (open its export; return why it cannot, or "" when it is in
use; ``open`` opens a graph) and ``_framework`` (the framework backend to fall back to, not yet
loaded); ``_predict_onnx`` runs on the session ``lease`` hands out, since with ``lanes`` > 1
several batches run at once (``onnx_lanes``). With precision
int8 it passes its kind's int8 build to ``int8_model``, which serves it only within the version's
``max_accuracy_delta`` (else fp32, with the reason logged and shown). Gradient explanations
(``Explainable``) are the framework backend's, so only while it serves.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aiaas.crypto.checkouts import materialize
from aiaas.errors import AiaasError, Invalid
from aiaas.registry.serving import ServingOptions
from aiaas.runtime import devices
from aiaas.runtime.backends.base import Backend, Explainable
from aiaas.runtime.backends.framework_errors import framework_error
from aiaas.runtime.backends.onnx_lanes import SessionLanes
from aiaas.runtime.compile.cache import Compiled
from aiaas.runtime.loaders import open_session, sorted_chunks
from aiaas.tasks.base import Prediction
from aiaas.tasks.outputs import Explanation

log = logging.getLogger("aiaas.runtime")
Feeds = dict[str, np.ndarray]


@dataclass(frozen=True)
class Agreement:
    """How a backend decides that another engine's session answers like the ONNX Runtime one:
    the check inputs (batches of feeds) and ``problem(got, expected)`` on the first outputs,
    concatenated ("" when they agree, else why not)."""

    feeds: list[Feeds]
    problem: Callable[[np.ndarray, np.ndarray], str]

    def outputs(self, session: Any) -> np.ndarray:
        return np.concatenate([session.run(None, feeds)[0] for feeds in self.feeds])


REPORT_KEYS = ("ok", "cosine_min", "max_abs_error")
PROBE_TEXT = "The patient was discharged after three days with no complications."


class OnnxWithFallback(Backend):
    framework = "the framework"
    """Named in the fallback log line."""
    lazy_weights = True
    """A cached, verified export is all it reads; the framework's weights only for an export
    build (the compile cache materialises them) or the fallback."""

    def __init__(self, path: Path, config: dict[str, Any], *, threads: int, digest: str,
                 compile_root: Path, options: ServingOptions | None = None,
                 lanes: int = 1) -> None:
        super().__init__(path, config)
        self.threads, self.digest, self.compile_root = threads, digest, compile_root
        self.options = options or ServingOptions()
        self.wanted_lanes = lanes
        self.session: Any = None
        self.pool: SessionLanes | None = None
        self.tokenizer: Any = None
        self.input_names: list[str] = []
        self.fallback: Backend | None = None
        self.engine, self.engine_reason = "onnxruntime", ""
        self.served_precision = ""
        """The precision OpenVINO computes in, when it serves ("" otherwise: the graph's)."""
        self.single: Any = None
        """While OpenVINO serves: the ONNX Runtime session that answers one-item batches, kept
        when it measured faster than OpenVINO on one item at load (``single_item_session``)."""
        self.report: dict[str, Any] = {}
        self.int8_report: dict[str, Any] = {}

    @abstractmethod
    def _load_onnx(self) -> str: ...

    @abstractmethod
    def _framework(self) -> Backend: ...

    @abstractmethod
    def _predict_onnx(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]: ...

    def load(self) -> None:
        try:
            reason = self._load_onnx()
        except Exception as exc:
            reason = f"ONNX export failed: {type(exc).__name__}: {exc}"
        if not reason:
            log.info("%s serves on its export (%s %s)", self.path.name, self.engine,
                     self.served_precision or self.options.precision)
            return
        self.session, self.pool, self.int8_report, self.served_precision = None, None, {}, ""
        self.single = None
        materialize(self.path)
        self.fallback = self._framework()
        log.warning("%s falls back to %s: %s", self.path.name, self.framework, reason)
        self.engine, self.engine_reason = "pytorch", reason
        self.fallback.load()

    def verified_file(self, compiled: Compiled, name: str,
                      int8: Callable[[], Compiled]) -> Path | None:
        """The graph to open from a verified export (``None`` when its check failed: the report
        says why): the int8 build instead when the version asks for one within its bound."""
        self.report = compiled.report
        if not compiled.ok:
            return None
        if self.options.precision == "int8":
            built = self.int8_model(int8())
            if built is not None:
                return built
        return compiled.directory / name

    def open(self, model_file: Path, providers: list[Any] | None = None,
             agreement: Callable[[], Agreement] | None = None) -> None:
        """Open ``model_file``: the session with all threads and, on the CPU with more than one
        lane wanted, a single-thread session per lane (``onnx_lanes``). With an ``agreement``
        (made once the session is open: it feeds the graph's inputs) an fp32 graph on the CPU
        runs on OpenVINO instead when a precision of it agrees with the ONNX Runtime session
        (``openvino_engine``), on one all-threads session."""
        self.session = open_session(model_file, threads=self.threads, providers=providers)
        self.input_names = [i.name for i in self.session.get_inputs()]
        on_cpu = providers in (None, ["CPUExecutionProvider"])
        if (on_cpu and agreement is not None and self._openvino_wanted()
                and self._open_openvino(model_file, agreement())):
            return
        if self.wanted_lanes > 1 and on_cpu:
            self.pool = SessionLanes(self.session, [open_session(model_file, threads=1)
                                                    for _ in range(self.wanted_lanes)])

    def _openvino_wanted(self) -> bool:
        return self.options.engine == "auto" and self.options.precision == "fp32"

    def _open_openvino(self, model_file: Path, agreement: Agreement) -> bool:
        """Serve on OpenVINO when a precision of it agrees with the ONNX Runtime session just
        opened (its outputs computed once, whatever the precisions tried); else keep that
        session, with the reason shown."""
        from aiaas.runtime.backends import openvino_engine

        reference = self.session
        reason = openvino_engine.unavailable()
        if not reason:
            expected = agreement.outputs(reference)
            chosen, reason = openvino_engine.open_checked(
                model_file, threads=self.threads,
                agrees=lambda candidate: agreement.problem(agreement.outputs(candidate), expected))
            if chosen is not None:
                self.session, self.served_precision = chosen, chosen.precision
                self.engine = "openvino"  # one all-threads session, no lanes: see openvino_engine
                self.engine_reason = reason  # why a faster precision was not used, if one failed
                probe = self._probe_feeds()
                if probe is not None:
                    self.single = openvino_engine.single_item_session(reference, chosen, probe)
                return True
        self.engine_reason = f"OpenVINO not used: {reason}"
        log.warning("%s: %s; serving on ONNX Runtime", self.path.name, self.engine_reason)
        return False

    def _probe_feeds(self) -> Feeds | None:
        """One typical item's feeds, to time the engines on one item at load (None: no probe,
        OpenVINO answers every batch)."""
        return self.text_feeds([PROBE_TEXT])[0] if self.tokenizer is not None else None

    def text_feeds(self, texts: list[str]) -> list[Feeds]:
        """``texts`` tokenised as the graph's inputs, in length-sorted sub-batches."""
        batches = []
        for chunk in sorted_chunks(texts):
            encoded = self.tokenizer.encode([texts[i] for i in chunk])
            batches.append({name: encoded[name] for name in self.input_names})
        return batches

    @property
    def lanes(self) -> int:
        return self.pool.count if self.pool is not None and self.fallback is None else 1

    def domain_error(self, exc: Exception) -> AiaasError | None:
        """The framework backend's mapping while it serves (it knows where it loaded); ONNX
        Runtime's, on the version's device, otherwise."""
        if self.fallback is not None:
            return self.fallback.domain_error(exc)
        return framework_error(exc, device=devices.resolve(self.options.device))

    def planned_bytes(self, artifact_bytes: int) -> int:
        """Once per session the load will open: the all-threads one and, on the CPU, one per
        lane (the ONNX export is about the artifact's size). Counted unless the version is
        pinned to a GPU: with ``auto`` on a GPU machine this errs on the safe side."""
        on_gpu = self.options.device.startswith("cuda")
        lanes = self.wanted_lanes if self.wanted_lanes > 1 and not on_gpu else 0
        return artifact_bytes * (1 + lanes)

    def memory_bytes(self) -> int:
        """The artifact's size once per open session: each lane holds its own copy of the
        weights."""
        sessions = 1 + (self.pool.count if self.pool is not None else 0) + (self.single is not None)
        return super().memory_bytes() * sessions

    @contextmanager
    def lease(self, items: int) -> Iterator[Any]:
        """The session to run a batch of ``items`` on (the batcher bounds how many run at once)."""
        if self.pool is None:
            yield self.single if items == 1 and self.single is not None else self.session
            return
        with self.pool.lease(items) as session:
            yield session

    def int8_model(self, built: Compiled) -> Path | None:
        """``built``'s int8 graph when it is within the version's bound, else None (fp32, logged)."""
        from aiaas.runtime.compile.quantize import INT8_FILE

        bound = self.options.max_accuracy_delta
        delta = float(built.report.get("delta", 1.0))
        if not built.ok or bound is None or delta > bound:
            self.engine_reason = (f"int8 not used: delta {delta:.4f} over the bound {bound}"
                                  if built.ok else f"int8 build failed: {built.reason}")
            log.warning("%s: %s; serving fp32", self.path.name, self.engine_reason)
            return None
        self.engine, self.int8_report = "onnxruntime-int8", built.report
        return built.directory / INT8_FILE

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        if self.fallback is not None:
            return self.fallback.predict_batch(items, parameters)
        return self._predict_onnx(items, parameters)

    @property
    def explain_methods(self) -> tuple[str, ...]:
        """The framework backend's gradient methods while it serves; none for the export, which
        has no gradients (explaining it would need a second, PyTorch copy of the model)."""
        return self.fallback.explain_methods if isinstance(self.fallback, Explainable) else ()

    def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
        if isinstance(self.fallback, Explainable):
            return self.fallback.explain(items, parameters)
        raise Invalid.at("parameters.method", "gradient methods need the model's PyTorch form, "
                         "and it is served through its ONNX export (server setting engine "
                         "pytorch, or a GPU device, serves it on PyTorch)")

    def describe(self) -> dict[str, Any]:
        precision = self.served_precision or self.options.precision
        if precision == "int8" and not self.int8_report:
            precision = "fp32"  # asked for, not served: engine_reason says why
        described: dict[str, Any] = {"engine": self.engine, "precision": precision,
                                     "device": self.options.device}
        if self.engine_reason:
            described["engine_reason"] = self.engine_reason
        if self.report:
            described["export_check"] = {k: self.report[k] for k in REPORT_KEYS if k in self.report}
        if self.int8_report:
            described["int8"] = self.int8_report
        if self.lanes > 1:
            described["lanes"] = self.lanes
        if self.single is not None:
            described["single_item_engine"] = "onnxruntime"
        return described

    def unload(self) -> None:
        if self.fallback is not None:
            self.fallback.unload()
        self.session = self.fallback = self.pool = self.single = None
        self.served_precision = ""
