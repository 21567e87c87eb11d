"""Recognise a model directory's format, and refuse any that would run code when loaded.

A directory may carry an ``aiaas.json`` manifest (task, labels, feature names, metrics,
description) for what its files cannot say themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.registry.store import iter_files

MANIFEST = "aiaas.json"
MAX_MANIFEST_BYTES = 1024 * 1024

# Suffixes whose loaders unpickle or run code: never stored, whatever the claimed format.
UNSAFE_SUFFIXES = {
    ".pkl": "a Python pickle",
    ".pickle": "a Python pickle",
    ".joblib": "a joblib pickle",
    ".dill": "a dill pickle",
    ".sav": "a pickled scikit-learn model",
    ".pt": "a torch.save pickle",
    ".pth": "a torch.save pickle",
    ".ckpt": "a pickled checkpoint",
    ".bin": "a torch.save pickle (pytorch_model.bin)",
    ".h5": "a Keras HDF5 model (Lambda layers run code)",
    ".keras": "a Keras model (Lambda layers run code)",
    ".npy": "a NumPy array file (may hold pickled objects)",
    ".npz": "a NumPy archive (may hold pickled objects)",
    ".py": "Python source (remote code is never trusted)",
}
SAFE_HINT = "accepted formats: safetensors / Hugging Face directories, ONNX, GGUF, CTranslate2"


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str | None = None
    description: str = ""
    labels: list[str | int] = Field(default_factory=list)
    feature_names: list[str] = Field(default_factory=list)
    metrics: dict[str, float] = Field(default_factory=dict)


@dataclass(slots=True)
class Detected:
    format: str
    framework: str
    tasks: tuple[str, ...]
    manifest: Manifest
    config: dict[str, Any] = field(default_factory=dict)


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.is_file():
        return Manifest()
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise Invalid(f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return Manifest.model_validate(json.loads(path.read_text("utf-8")))
    except (ValueError, ValidationError) as exc:
        raise Invalid(f"{MANIFEST} is not valid: {exc}") from exc


def refuse_unsafe_files(root: Path) -> list[Path]:
    files = iter_files(root)
    for path in files:
        reason = UNSAFE_SUFFIXES.get(path.suffix.lower())
        if reason:
            raise UnsafeArtifact(
                f"refused {path.relative_to(root).as_posix()}: it is {reason}, which can run code "
                f"when loaded; {SAFE_HINT}",
                details={"file": path.relative_to(root).as_posix()},
            )
    return files


def detect(root: Path) -> Detected:
    """Identify the format of ``root``; raise ``UnsafeArtifact``/``Invalid`` saying why not."""
    files = refuse_unsafe_files(root)
    if not files:
        raise Invalid("the model directory is empty")
    manifest = read_manifest(root)
    names = {path.relative_to(root).as_posix() for path in files}
    if "modules.json" in names and any(n.endswith(".safetensors") for n in names):
        _check_sentence_transformers(root)
        return Detected("sentence-transformers", "sentence-transformers", ("embedding",), manifest)
    onnx_files = sorted(n for n in names if n.endswith(".onnx"))
    if onnx_files:
        model_file = "model.onnx" if "model.onnx" in names else onnx_files[0]
        _check_onnx(root / model_file, root)
        return Detected(
            "onnx",
            "onnxruntime",
            ("tabular-classification", "tabular-regression"),
            manifest,
            config={"model_file": model_file},
        )
    raise Invalid(
        f"unrecognised model format (files: {', '.join(sorted(names)[:8])}); {SAFE_HINT}",
    )


def _check_onnx(path: Path, root: Path) -> None:
    """Parse the graph without loading weights and keep external-data paths inside ``root``."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise Invalid(f"{path.name} is not a valid ONNX model: {exc}") from exc
    base = root.resolve()
    for tensor in model.graph.initializer:
        if not uses_external_data(tensor):
            continue
        for entry in tensor.external_data:
            if entry.key != "location":
                continue
            target = (path.parent / entry.value).resolve()
            if not target.is_relative_to(base) or not target.is_file():
                raise UnsafeArtifact(
                    f"ONNX external data {entry.value!r} points outside the model directory"
                )


ST_MODULE_PREFIX = "sentence_transformers.models."


def _check_sentence_transformers(root: Path) -> None:
    """modules.json names classes to import: only sentence-transformers' own are allowed."""
    try:
        modules = json.loads((root / "modules.json").read_text("utf-8"))
        types = [str(entry["type"]) for entry in modules]
        paths = [str(entry.get("path", "")) for entry in modules]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Invalid(f"modules.json is not valid: {exc}") from exc
    for module_type in types:
        rest = module_type.removeprefix(ST_MODULE_PREFIX)
        if rest == module_type or not rest.replace("_", "").isalnum():
            raise UnsafeArtifact(
                f"modules.json names {module_type!r}; only {ST_MODULE_PREFIX}* modules load"
            )
    base = root.resolve()
    for module_path in paths:
        if not (root / module_path).resolve().is_relative_to(base):
            raise UnsafeArtifact(f"modules.json path {module_path!r} leaves the model directory")
