"""Recognise a model directory's format, and refuse any that would run code when loaded.

A directory may carry an ``aiaas.json`` manifest (task, labels, feature names, metrics,
description) for what its files cannot say themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError, field_validator

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
    ".pyc": "compiled Python (remote code is never trusted)",
    ".pyo": "compiled Python (remote code is never trusted)",
    ".pyd": "a native Python extension (remote code is never trusted)",
    ".so": "a native shared library (remote code is never trusted)",
    ".dll": "a native shared library (remote code is never trusted)",
    ".dylib": "a native shared library (remote code is never trusted)",
}
# ``model.pkl.gz`` is still a pickle: a compression suffix does not hide the one before it.
COMPRESSION_SUFFIXES = {".gz", ".bz2", ".xz", ".lzma", ".z", ".zst", ".zip", ".tar"}
SAFE_HINT = ("accepted formats: sentence-transformers and Hugging Face directories with "
             "safetensors weights, ONNX (tabular, image), GGUF, CTranslate2 Whisper")


class SamplingDefaults(BaseModel):
    """A generation model's recommended sampling, used when a request leaves a value out (small
    chat models are far less coherent at the API's generic temperature 1)."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str | None = None
    description: str = ""
    labels: list[str | int] = Field(default_factory=list)
    feature_names: list[str] = Field(default_factory=list)
    # ONNX image models: input side (or [height, width]) and per-channel normalisation.
    image_size: int | list[int] | None = None
    image_mean: list[FiniteFloat] = Field(default_factory=list)
    image_std: list[FiniteFloat] = Field(default_factory=list)
    metrics: dict[str, FiniteFloat] = Field(default_factory=dict)
    sampling: SamplingDefaults | None = None

    @field_validator("task", "description", "labels", "feature_names", "metrics", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """A NUL character cannot be stored in a PostgreSQL text column: refuse it up front."""
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


@dataclass(slots=True)
class Detected:
    format: str
    framework: str
    tasks: tuple[str, ...]
    manifest: Manifest
    config: dict[str, Any] = field(default_factory=dict)


def read_json(path: Path, label: str) -> Any:
    """A small JSON file a loader will read, parsed defensively (size and nesting bounded)."""
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise Invalid(f"{label} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        return json.loads(path.read_text("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise Invalid(f"{label} is not valid JSON: {exc}") from exc


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.is_file():
        return Manifest()
    try:
        return Manifest.model_validate(read_json(path, MANIFEST))
    except ValidationError as exc:
        raise Invalid(f"{MANIFEST} is not valid: {exc}") from exc


def unsafe_reason(path: Path) -> str | None:
    """Why a file must not be stored, or ``None``."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    while len(suffixes) > 1 and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    return UNSAFE_SUFFIXES.get(suffixes[-1]) if suffixes else None


def refuse_unsafe_files(root: Path) -> list[Path]:
    files = iter_files(root)
    ctranslate2 = ctranslate2_spec(root) is not None
    for path in files:
        reason = unsafe_reason(path)
        if reason and not (ctranslate2 and path == root / CT2_WEIGHTS):
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
        from aiaas.runtime.backends.embedding_head import detect_head

        head = detect_head(root, names, manifest)
        if head is not None:
            return head
        return Detected("sentence-transformers", "sentence-transformers", ("embedding",), manifest)
    from aiaas.runtime.generation.detect import detect_causal_lm

    causal_lm = detect_causal_lm(root, names, manifest)
    if causal_lm is not None:
        return causal_lm
    from aiaas.registry.hf_detect import detect_hf, is_hf_directory

    if is_hf_directory(names):
        return detect_hf(root, names, manifest)
    onnx_files = sorted(n for n in names if n.endswith(".onnx"))
    if onnx_files:
        model_file = "model.onnx" if "model.onnx" in names else onnx_files[0]
        graph = _check_onnx(root / model_file, root)
        if "forecaster.json" in names or manifest.task == "forecasting":
            return Detected("onnx-forecaster", "onnxruntime", ("forecasting",), manifest,
                            config={"model_file": model_file})
        image = manifest.task == "image-classification" or _onnx_image_input(graph)
        return Detected(
            "onnx",
            "onnxruntime",
            ("image-classification",) if image else ("tabular-classification", "tabular-regression"),
            manifest,
            config={"model_file": model_file},
        )
    spec = ctranslate2_spec(root)
    if spec is not None:
        return _ctranslate2_whisper(root, spec, names, manifest)
    raise Invalid(
        f"unrecognised model format (files: {', '.join(sorted(names)[:8])}); {SAFE_HINT}",
    )


# CTranslate2: ``model.bin`` is CTranslate2's own binary format (read by C++, never unpickled),
# allowed only at the top of a directory that also has ``config.json`` and a vocabulary, and only
# when its header is CTranslate2's: uint32 binary version, uint16 length, NUL-ended spec name.
CT2_WEIGHTS = "model.bin"
_CT2_VOCABULARIES = ("tokenizer.json", "vocabulary.txt", "vocabulary.json")
_CT2_SPEC = re.compile(rb"[A-Za-z][A-Za-z0-9_]{0,63}")


def ctranslate2_spec(root: Path) -> str | None:
    """The spec name (e.g. ``WhisperSpec``) of a CTranslate2 model directory, or ``None``.
    A ``model.bin`` there that is a pickle (0x80) or a zip (``PK``: torch.save) is refused."""
    weights = root / CT2_WEIGHTS
    if not (weights.is_file() and (root / "config.json").is_file()
            and any((root / name).is_file() for name in _CT2_VOCABULARIES)):
        return None
    with weights.open("rb") as handle:
        head = handle.read(6 + 65)
    kind = "a pickle" if head[:1] == b"\x80" else "a zip" if head[:2] == b"PK" else None
    if kind:
        raise UnsafeArtifact(
            f"refused {CT2_WEIGHTS}: it is {kind} (torch.save), not CTranslate2 weights, and can "
            f"run code when loaded; {SAFE_HINT}",
            details={"file": CT2_WEIGHTS},
        )
    version = int.from_bytes(head[:4], "little")
    length = int.from_bytes(head[4:6], "little")
    name = head[6:6 + length]
    if not 2 <= version <= 32 or len(name) != length or name[-1:] != b"\0":
        return None
    return name[:-1].decode("ascii") if _CT2_SPEC.fullmatch(name[:-1]) else None


def _ctranslate2_whisper(root: Path, spec: str, names: set[str], manifest: Manifest) -> Detected:
    if spec != "WhisperSpec":
        raise Invalid(f"a CTranslate2 {spec} model is not served; CTranslate2 Whisper models are")
    if "tokenizer.json" not in names:
        raise Invalid("a CTranslate2 Whisper directory needs its tokenizer.json (faster-whisper "
                      "would otherwise download one)")
    read_json(root / "config.json", "config.json")
    return Detected("ctranslate2-whisper", "faster-whisper", ("speech-recognition",), manifest,
                    config={"model_file": CT2_WEIGHTS})


def _onnx_tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of a graph: initializers, sparse ones, node attributes and subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        yield from _onnx_attribute_tensors(node.attribute)


def _onnx_attribute_tensors(attributes: Any) -> Iterator[Any]:
    for attribute in attributes:
        if attribute.HasField("t"):
            yield attribute.t
        yield from attribute.tensors
        if attribute.HasField("sparse_tensor"):
            yield attribute.sparse_tensor.values
            yield attribute.sparse_tensor.indices
        for sparse in attribute.sparse_tensors:
            yield sparse.values
            yield sparse.indices
        if attribute.HasField("g"):
            yield from _onnx_tensors(attribute.g)
        for subgraph in attribute.graphs:
            yield from _onnx_tensors(subgraph)


def _onnx_image_input(model: Any) -> bool:
    """True when the first graph input is a 4-D float tensor with 1 or 3 channels (NCHW/NHWC)."""
    if not model.graph.input:
        return False
    tensor = model.graph.input[0].type.tensor_type
    dims = [d.dim_value for d in tensor.shape.dim]
    return tensor.elem_type == 1 and len(dims) == 4 and (dims[1] in (1, 3) or dims[3] in (1, 3))


def _check_onnx(path: Path, root: Path) -> Any:
    """Parse the graph without loading weights and keep external-data paths inside ``root``;
    return the parsed model (without its external data)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise Invalid(f"{path.name} is not a valid ONNX model: {exc}") from exc
    tensors = list(_onnx_tensors(model.graph))
    for function in model.functions:
        for node in function.node:
            tensors.extend(_onnx_attribute_tensors(node.attribute))
    base = root.resolve()
    for tensor in tensors:
        # onnxruntime reads ``location`` whenever the tensor says EXTERNAL; look at every entry.
        for entry in tensor.external_data:
            if entry.key != "location":
                continue
            location = entry.value
            if _escapes(location):
                raise UnsafeArtifact(
                    f"ONNX external data {location!r} points outside the model directory",
                    details={"file": path.name, "location": location},
                )
            target = (path.parent / location).resolve()
            if not target.is_relative_to(base):
                raise UnsafeArtifact(
                    f"ONNX external data {location!r} points outside the model directory",
                    details={"file": path.name, "location": location},
                )
            if not target.is_file():
                raise Invalid(
                    f"ONNX external data {location!r} is missing from the upload",
                    details={"file": path.name, "location": location},
                )
    return model


def _escapes(relative: str) -> bool:
    """True for an absolute path, a drive, a NUL or any ``..`` part, in POSIX or Windows syntax."""
    return (
        not relative
        or "\0" in relative
        or PurePosixPath(relative).is_absolute()
        or bool(PureWindowsPath(relative).anchor)
        or ".." in PurePosixPath(relative.replace("\\", "/")).parts
    )


# The namespaces sentence-transformers keeps its own modules in (``models`` is the pre-6.0 one).
ST_MODULE_PREFIXES = (
    "sentence_transformers.models.",
    "sentence_transformers.base.modules.",
    "sentence_transformers.sentence_transformer.modules.",
)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Modules whose own config names further module classes (and folders) to load.
_ROUTERS = {"Router", "Asym"}


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
    if (text and _escapes(text)) or not (root / text).resolve().is_relative_to(root.resolve()):
        raise UnsafeArtifact(f"{where} path {text!r} leaves the model directory",
                             details={"path": text})
    return root / text


def _check_sentence_transformers(root: Path) -> None:
    """modules.json names classes to import: only sentence-transformers' own are allowed, from
    folders inside the model directory, and so for the modules a Router/Asym module names."""
    modules = read_json(root / "modules.json", "modules.json")
    if not isinstance(modules, list) or not all(isinstance(entry, dict) for entry in modules):
        raise Invalid("modules.json is not valid: expected a list of module objects")
    for entry in modules:
        if "type" not in entry:
            raise Invalid("modules.json is not valid: a module has no 'type'")
        kind = _check_module_type(entry["type"], "modules.json")
        folder = _check_module_path(entry.get("path", ""), root, "modules.json")
        config = folder / "config.json"
        if config.is_file():
            read_json(config, f"{config.relative_to(root).as_posix()}")
        if kind in _ROUTERS:
            _check_router(folder, root)


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
