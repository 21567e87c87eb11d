"""What the ONNX Runtime backends for framework models share: load the verified export or fall
back to the framework backend with the reason logged and shown, run length-sorted sub-batches,
and describe which engine serves.

A subclass implements ``_load_onnx`` (open its export; return why it cannot, or "" when it is in
use) and ``_framework`` (the framework backend to fall back to, not yet loaded).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.tasks.base import Prediction

log = logging.getLogger("aiaas.runtime")
SUB_BATCH = 32
REPORT_KEYS = ("ok", "cosine_min", "max_abs_error")


class OnnxWithFallback(Backend):
    framework = "the framework"
    """Named in the fallback log line."""

    def __init__(self, path: Path, config: dict[str, Any], *, threads: int, digest: str,
                 compile_root: Path, options: ServingOptions | None = None) -> None:
        super().__init__(path, config)
        self.threads, self.digest, self.compile_root = threads, digest, compile_root
        self.options = options or ServingOptions()
        self.session: Any = None
        self.tokenizer: Any = None
        self.input_names: list[str] = []
        self.fallback: Backend | None = None
        self.engine, self.engine_reason = "onnxruntime", ""
        self.report: dict[str, Any] = {}

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
            log.info("%s serves through ONNX Runtime (%s)", self.path.name, self.engine)
            return
        self.session = None
        self.fallback = self._framework()
        log.warning("%s falls back to %s: %s", self.path.name, self.framework, reason)
        self.engine, self.engine_reason = "pytorch", reason
        self.fallback.load()

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        if self.fallback is not None:
            return self.fallback.predict_batch(items, parameters)
        return self._predict_onnx(items, parameters)

    @staticmethod
    def sorted_chunks(items: list[Any]) -> Iterator[list[int]]:
        """Indices of ``items`` by length, cut into sub-batches, so short texts are not padded
        to the longest in a large batch."""
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        for start in range(0, len(order), SUB_BATCH):
            yield order[start:start + SUB_BATCH]

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"engine": self.engine, "precision": self.options.precision,
                                     "device": self.options.device}
        if self.engine_reason:
            described["engine_reason"] = self.engine_reason
        if self.report:
            described["export_check"] = {k: self.report[k] for k in REPORT_KEYS if k in self.report}
        return described

    def unload(self) -> None:
        if self.fallback is not None:
            self.fallback.unload()
        self.session = self.fallback = None
