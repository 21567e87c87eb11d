"""The files of an uploaded directory: every regular file (links and special files refused),
the suffixes whose loaders would run code, paths that would leave the directory, and the
header check of a safetensors file. Nothing here opens a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from aiaas.errors import Invalid, UnsafeArtifact

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
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024


def iter_files(root: Path) -> list[Path]:
    """Every regular file under ``root``, sorted; a link or special file is refused."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                raise UnsafeArtifact(f"artifact contains a symbolic link: {path.relative_to(root)}")
            if name in filenames and not path.is_file():
                raise UnsafeArtifact(f"artifact contains a special file: {path.relative_to(root)}")
            if name in filenames:
                files.append(path)
    return sorted(files)


def unsafe_reason(path: Path) -> str | None:
    """Why a file must not be stored, or ``None``."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    while len(suffixes) > 1 and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    return UNSAFE_SUFFIXES.get(suffixes[-1]) if suffixes else None


def escapes(relative: str) -> bool:
    """True for an absolute path, a drive, a NUL or any ``..`` part, in POSIX or Windows syntax."""
    return (
        not relative
        or "\0" in relative
        or PurePosixPath(relative).is_absolute()
        or bool(PureWindowsPath(relative).anchor)
        or ".." in PurePosixPath(relative.replace("\\", "/")).parts
    )


def check_safetensors(path: Path, label: str) -> None:
    """The header of a safetensors file: bounded length, a JSON object, tensors inside the file.
    A corrupt or truncated file is refused here (422) rather than failing at load time."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise Invalid(f"{label} is not a safetensors file: it is shorter than its header")
        length = int.from_bytes(prefix, "little")
        if length > min(MAX_SAFETENSORS_HEADER, size - 8):
            raise Invalid(f"{label} is not a valid safetensors file: its header length {length} "
                          f"does not fit the file of {size} bytes")
        raw = handle.read(length)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise Invalid(f"{label} is not a valid safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise Invalid(f"{label} is not a valid safetensors file: its header is not an object")
    room = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= room):
            raise Invalid(f"{label} is truncated or corrupt: tensor {str(name)[:80]!r} lies outside "
                          "the file")
