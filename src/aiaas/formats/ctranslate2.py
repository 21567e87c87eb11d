"""CTranslate2 Whisper directories (format ``ctranslate2-whisper``, served by faster-whisper).

``model.bin`` is CTranslate2's own binary format (read by C++, never unpickled), allowed only at
the top of a directory that also has ``config.json`` and a vocabulary, and only when its header
is CTranslate2's: uint32 binary version, uint16 length, NUL-ended spec name.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.formats.files import SAFE_HINT
from aiaas.formats.manifest import Detected, Manifest, read_json

FORMAT = "ctranslate2-whisper"
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


def detect_ctranslate2_whisper(root: Path, names: set[str], manifest: Manifest) -> Detected | None:
    spec = ctranslate2_spec(root)
    if spec is None:
        return None
    if spec != "WhisperSpec":
        raise Invalid(f"a CTranslate2 {spec} model is not served; CTranslate2 Whisper models are")
    if "tokenizer.json" not in names:
        raise Invalid("a CTranslate2 Whisper directory needs its tokenizer.json (faster-whisper "
                      "would otherwise download one)")
    read_json(root / "config.json", "config.json")
    return Detected(FORMAT, "faster-whisper", ("speech-recognition",), manifest,
                    config={"model_file": CT2_WEIGHTS})
