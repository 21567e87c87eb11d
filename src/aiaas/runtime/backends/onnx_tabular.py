"""ONNX tabular models (e.g. scikit-learn converted with skl2onnx) on onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aiaas.errors import BackendError
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.loaders import open_session
from aiaas.tasks.base import Prediction
from aiaas.tasks.outputs import Classification


class OnnxTabularBackend(Backend):
    def __init__(self, path: Path, config: dict[str, Any], *, task: str, threads: int) -> None:
        super().__init__(path, config)
        self.task = task
        self.threads = threads
        self.session: Any = None

    def load(self) -> None:
        self.session = open_session(self.path / self.config["model_file"], threads=self.threads)
        self.input_name = self.session.get_inputs()[0].name

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        features = np.asarray(items, dtype=np.float32)
        try:
            outputs = self.session.run(None, {self.input_name: features})
        except Exception as exc:
            raise self.failure(exc, "onnxruntime failed") from exc
        if self.task == "tabular-regression":
            values = np.asarray(outputs[0], dtype=np.float64).reshape(len(items), -1)[:, 0]
            return [Prediction({"value": float(v)}) for v in values]
        return self._classify(outputs, len(items))

    def _classify(self, outputs: list[Any], count: int) -> list[Prediction]:
        labels: list[str] = self.config["labels"]
        probabilities = outputs[1] if len(outputs) > 1 else None
        if isinstance(probabilities, list):
            graph_labels = self.config.get("graph_labels") or labels
            probabilities = np.asarray(
                [[row[g] for g in graph_labels] for row in probabilities], dtype=np.float64
            )
        if probabilities is None:
            raise BackendError("the ONNX classifier has no probability output")
        matrix = np.asarray(probabilities, dtype=np.float64).reshape(count, len(labels))
        results = []
        for row in matrix:
            best = int(row.argmax())
            results.append(Prediction(Classification(
                label=labels[best],
                score=float(row[best]),
                probabilities={label: float(p) for label, p in zip(labels, row, strict=True)},
            )))
        return results

    def unload(self) -> None:
        self.session = None
