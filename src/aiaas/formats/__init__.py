"""Model formats: what a directory is, whether it is safe to store, and how it is served.

A leaf package (it imports only the standard library, third-party libraries and
``aiaas.errors``): the registry detects uploads with it, the tasks read what detection found,
and the runtime picks a backend from its table. Nothing here imports torch or the runtime.

- ``table``: the one table of formats (detector, tasks, engines, builds) and ``detect``.
- ``manifest``: ``Detected``, the ``aiaas.json`` manifest, defensive JSON reading.
- ``files``: links and code-running files refused, safetensors headers checked.
- one module per family of detectors: ``sentence`` (sentence-transformers, embedding head),
  ``hf`` (transformers), ``causal_lm`` and ``gguf_check`` (GGUF and causal-LM directories),
  ``onnx_graph`` (ONNX tabular, image and forecaster graphs), ``ctranslate2`` (Whisper).
"""

from __future__ import annotations

from aiaas.formats.manifest import MANIFEST, MAX_MANIFEST_BYTES, Detected, Manifest, read_json, read_manifest
from aiaas.formats.table import (
    FORMATS,
    Build,
    Engine,
    Format,
    builds_named,
    detect,
    engine_for,
    format_named,
    refuse_unsafe_files,
)

__all__ = [
    "FORMATS",
    "MANIFEST",
    "MAX_MANIFEST_BYTES",
    "Build",
    "Detected",
    "Engine",
    "Format",
    "Manifest",
    "builds_named",
    "detect",
    "engine_for",
    "format_named",
    "read_json",
    "read_manifest",
    "refuse_unsafe_files",
]
