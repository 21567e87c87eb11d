"""sentence-transformers directories: format ``sentence-transformers`` (embeddings) and format
``embedding-head`` (the same directory plus ``classifier_head.safetensors``: a linear text
classifier on the frozen encoder, ``aiaas.runtime.backends.embedding_head``).

``modules.json`` names classes to import: only sentence-transformers' own are allowed, from
folders inside the model directory, and so for the modules a Router/Asym module names. The head
file holds two float32 tensors, ``weight`` [labels, features] and ``bias`` [labels]; its labels,
in row order, come from ``aiaas.json``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.formats.files import check_safetensors, escapes
from aiaas.formats.manifest import Detected, Manifest, read_json

FORMAT = "sentence-transformers"
HEAD_FORMAT = "embedding-head"
HEAD_FILE = "classifier_head.safetensors"
_HEAD_TENSORS = {"weight": 2, "bias": 1}
# The namespaces sentence-transformers keeps its own modules in (``models`` is the pre-6.0 one).
ST_MODULE_PREFIXES = (
    "sentence_transformers.models.",
    "sentence_transformers.base.modules.",
    "sentence_transformers.sentence_transformer.modules.",
)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Modules whose own config names further module classes (and folders) to load.
_ROUTERS = {"Router", "Asym"}
# Modules that turn token embeddings into the ``sentence_embedding`` every encode returns (a
# router may hold one in its branches). A pipeline without one loads, and then every call fails.
_SENTENCE_OUTPUTS = {"Pooling", "StaticEmbedding", "BoW", "CLIPModel", *_ROUTERS}


def is_sentence_transformers(names: set[str]) -> bool:
    return "modules.json" in names and any(n.endswith(".safetensors") for n in names)


def detect_embedding_head(root: Path, names: set[str], manifest: Manifest) -> Detected | None:
    """``Detected`` for a sentence-transformers directory that carries a classifier head, else
    ``None``; ``Invalid`` when the head or its labels do not fit."""
    if not is_sentence_transformers(names) or HEAD_FILE not in names:
        return None
    check_sentence_transformers(root)
    encoder_folder(root)
    rows, features = head_shapes(root / HEAD_FILE)["weight"]
    labels = [str(label) for label in manifest.labels]
    if len(labels) != rows:
        raise Invalid(f"{HEAD_FILE} has {rows} outputs; aiaas.json must list as many labels "
                      f"(it lists {len(labels)})")
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise Invalid("a classifier head needs at least two distinct labels")
    config = {"labels": labels, "multi_label": False, "features": features}
    return Detected(HEAD_FORMAT, "transformers", ("text-classification",), manifest, config)


def detect_sentence_transformers(root: Path, names: set[str], manifest: Manifest) -> Detected | None:
    if not is_sentence_transformers(names):
        return None
    kinds = check_sentence_transformers(root)
    if not kinds & _SENTENCE_OUTPUTS:
        raise Invalid("the sentence-transformers pipeline in modules.json has no Pooling module, "
                      "so it produces no sentence embedding; save the model with its pooling "
                      "(e.g. a 1_Pooling folder listed in modules.json)",
                      details={"file": "modules.json"})
    return Detected(FORMAT, "sentence-transformers", ("embedding",), manifest)


def head_shapes(path: Path) -> dict[str, list[int]]:
    """The shapes of ``weight`` and ``bias`` from the safetensors header (no data read)."""
    check_safetensors(path, HEAD_FILE)
    with path.open("rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(length))
    shapes: dict[str, list[int]] = {}
    for name, rank in _HEAD_TENSORS.items():
        entry = header.get(name)
        if not isinstance(entry, dict) or entry.get("dtype") != "F32":
            raise Invalid(f"{HEAD_FILE} needs a float32 tensor {name!r}")
        shape = entry.get("shape")
        if (not isinstance(shape, list) or len(shape) != rank
                or not all(isinstance(n, int) and n > 0 for n in shape)):
            raise Invalid(f"{HEAD_FILE}: tensor {name!r} must have {rank} positive dimensions")
        shapes[name] = shape
    extra = set(header) - set(_HEAD_TENSORS) - {"__metadata__"}
    if extra:
        raise Invalid(f"{HEAD_FILE} holds unexpected tensors: {', '.join(sorted(extra)[:4])}")
    if shapes["bias"][0] != shapes["weight"][0]:
        raise Invalid(f"{HEAD_FILE}: weight has {shapes['weight'][0]} rows but bias "
                      f"{shapes['bias'][0]} entries")
    return shapes


def encoder_folder(root: Path) -> Path:
    """The folder of a sentence-transformers model's ``Transformer`` module (its transformers
    weights, config and tokenizer); ``Invalid`` when there is none. The paths in
    ``modules.json`` were checked to stay inside the directory when it was registered."""
    modules = read_json(root / "modules.json", "modules.json")
    for module in modules if isinstance(modules, list) else []:
        if isinstance(module, dict) and str(module.get("type", "")).endswith(".Transformer"):
            folder = root / str(module.get("path", ""))
            if (folder / "config.json").is_file():
                return folder
    raise Invalid("the sentence-transformers model has no Transformer module with a config.json")


def _check_module_type(module_type: Any, where: str) -> str:
    text = str(module_type)
    prefix = next((p for p in ST_MODULE_PREFIXES if text.startswith(p)), None)
    rest = text.removeprefix(prefix) if prefix else ""
    if not rest or not all(_IDENTIFIER.fullmatch(part) for part in rest.split(".")):
        raise UnsafeArtifact(
            f"{where} names {text!r}; only sentence-transformers' own modules "
            f"({', '.join(p + '*' for p in ST_MODULE_PREFIXES)}) load, never other code",
            details={"type": text},
        )
    return rest.rsplit(".", 1)[-1]


def _check_module_path(module_path: Any, root: Path, where: str) -> Path:
    text = str(module_path)
    if (text and escapes(text)) or not (root / text).resolve().is_relative_to(root.resolve()):
        raise UnsafeArtifact(f"{where} path {text!r} leaves the model directory",
                             details={"path": text})
    return root / text


def check_sentence_transformers(root: Path) -> set[str]:
    """modules.json names classes to import: only sentence-transformers' own are allowed, from
    folders inside the model directory, and so for the modules a Router/Asym module names.
    Returns the class names of the top-level modules."""
    modules = read_json(root / "modules.json", "modules.json")
    if not isinstance(modules, list) or not all(isinstance(entry, dict) for entry in modules):
        raise Invalid("modules.json is not valid: expected a list of module objects")
    kinds: set[str] = set()
    for entry in modules:
        if "type" not in entry:
            raise Invalid("modules.json is not valid: a module has no 'type'")
        kind = _check_module_type(entry["type"], "modules.json")
        kinds.add(kind)
        folder = _check_module_path(entry.get("path", ""), root, "modules.json")
        config = folder / "config.json"
        if config.is_file():
            read_json(config, f"{config.relative_to(root).as_posix()}")
        if kind in _ROUTERS:
            _check_router(folder, root)
    return kinds


def _check_router(folder: Path, root: Path) -> None:
    for name in ("router_config.json", "config.json"):
        path = folder / name
        if path.is_file():
            label = path.relative_to(root).as_posix()
            config = read_json(path, label)
            types = config.get("types", {}) if isinstance(config, dict) else None
            if not isinstance(types, dict):
                raise Invalid(f"{label} is not valid: 'types' must be an object")
            for sub_path, sub_type in types.items():
                kind = _check_module_type(sub_type, label)
                sub_folder = _check_module_path(sub_path, folder, label)
                if not sub_folder.resolve().is_relative_to(root.resolve()):
                    raise UnsafeArtifact(f"{label} path {sub_path!r} leaves the model directory")
                if kind in _ROUTERS:
                    raise UnsafeArtifact(f"{label} nests a router inside a router; refused")
            return
