"""CTranslate2 directory detection: the packaged Whisper tiny.en is CTranslate2 Whisper, a
CTranslate2 header is what admits ``model.bin`` (a pickled one is still refused, on disk and
as an upload), only at the top of the directory, and other CTranslate2 models are not served."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.formats import detect
from tests.conftest import Api
from tests.registry.conftest import make_tar, write_tree
from tests.runtime.conftest import whisper_dir


def ct2_header(spec: str = "WhisperSpec") -> bytes:
    """The start of a CTranslate2 model.bin: binary version 6, then the spec name."""
    name = spec.encode() + b"\0"
    return (6).to_bytes(4, "little") + len(name).to_bytes(2, "little") + name + bytes(64)


def ct2_files(weights: bytes | None = None, **extra: bytes) -> dict[str, bytes]:
    return {"model.bin": ct2_header() if weights is None else weights,
            "config.json": json.dumps({"suppress_ids": []}).encode(),
            "tokenizer.json": b"{}", "vocabulary.txt": b"a\nb\n", **extra}


def test_the_packaged_whisper_directory_is_ctranslate2_whisper() -> None:
    detected = detect(whisper_dir())
    assert detected.format == "ctranslate2-whisper"
    assert detected.tasks == ("speech-recognition",)
    assert detected.config == {"model_file": "model.bin"}


def test_a_ctranslate2_header_is_what_admits_model_bin(tmp_path: Path) -> None:
    assert detect(write_tree(tmp_path / "m", ct2_files())).format == "ctranslate2-whisper"


PICKLE_0 = b"cos\nsystem\n(S'echo pwned'\ntR."


@pytest.mark.parametrize(("weights", "says"), [
    (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.", "it is a pickle (torch.save)"),
    (b"\x80\x02}q\x00.", "it is a pickle (torch.save)"),
    (b"PK\x03\x04" + bytes(60), "it is a zip (torch.save)"),
    (PICKLE_0, "a torch.save pickle (pytorch_model.bin)"),
    (np.random.default_rng(0).bytes(128), "a torch.save pickle (pytorch_model.bin)"),
    ((1000).to_bytes(4, "little") + ct2_header()[4:], "a torch.save pickle (pytorch_model.bin)"),
])
def test_a_model_bin_that_is_not_ctranslate2_is_still_refused(tmp_path: Path, weights: bytes,
                                                              says: str) -> None:
    with pytest.raises(UnsafeArtifact) as caught:
        detect(write_tree(tmp_path / "m", ct2_files(weights)))
    assert caught.value.code == "unsafe_artifact"
    assert "model.bin" in caught.value.message and says in caught.value.message
    assert caught.value.details == {"file": "model.bin"}


@pytest.mark.parametrize(("files", "refused"), [
    (ct2_files(**{"pytorch_model.bin": b"\x80\x04K\x01."}), "pytorch_model.bin"),
    (ct2_files(**{"extra.bin": ct2_header()}), "extra.bin"),
    ({f"sub/{name}": data for name, data in ct2_files().items()}, "sub/model.bin"),
    ({"model.bin": ct2_header(), "config.json": b"{}"}, "model.bin"),
    ({"model.bin": ct2_header(), "tokenizer.json": b"{}"}, "model.bin"),
])
def test_model_bin_is_admitted_only_at_the_top_of_a_ctranslate2_directory(
    tmp_path: Path, files: dict[str, bytes], refused: str
) -> None:
    with pytest.raises(UnsafeArtifact, match="can run code") as caught:
        detect(write_tree(tmp_path / "m", files))
    assert caught.value.details == {"file": refused}


def test_ctranslate2_models_other_than_whisper_are_not_served(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="CTranslate2 TransformerSpec model is not served"):
        detect(write_tree(tmp_path / "a", ct2_files(ct2_header("TransformerSpec"))))
    files = ct2_files()
    del files["tokenizer.json"]
    with pytest.raises(Invalid, match=r"needs its tokenizer\.json"):
        detect(write_tree(tmp_path / "b", files))


async def test_uploading_a_whisper_directory_with_a_pickled_model_bin_is_refused(api: Api) -> None:
    files = ct2_files(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94.")
    archive = make_tar([(f"whisper/{name}", data) for name, data in files.items()])
    response = await api.client.post("/api/v1/models/evil-whisper/versions", content=archive,
                                     headers=api.auth())
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "unsafe_artifact" and "model.bin" in error["message"]
    listed = await api.client.get("/api/v1/models", headers=api.auth())
    assert "evil-whisper" not in listed.text
