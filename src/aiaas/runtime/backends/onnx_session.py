"""One way to open an ONNX Runtime session, shared by every ONNX backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_session(model_file: Path, *, threads: int, providers: list[Any] | None = None) -> Any:
    """A session (CPU unless ``providers`` say otherwise) with ``threads`` intra-op threads
    (0 = onnxruntime's default) and one inter-op thread: each model already runs on its own
    worker thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    chosen = providers or ["CPUExecutionProvider"]
    return ort.InferenceSession(str(model_file), options, providers=chosen)
