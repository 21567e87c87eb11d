"""Files that would run code when loaded are refused by name and the message says why, harmless
names are not, and links inside a model directory are refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aiaas.errors import UnsafeArtifact
from aiaas.formats import detect
from tests.registry.conftest import iris_files, st_files, write_tree

UNSAFE = ["model.pkl", "model.pickle", "pytorch_model.bin", "model.pt", "model.pth",
          "model.joblib", "model.dill", "model.sav", "model.ckpt", "tf_model.h5", "model.keras",
          "x.npy", "x.npz", "modeling_evil.py", "sub/dir/helper.pyc", "lib.so", "MODEL.PKL",
          "model.pkl.gz", "model.joblib.xz"]


@pytest.mark.parametrize("name", UNSAFE)
def test_code_running_file_is_refused_and_the_message_says_why(tmp_path: Path, name: str) -> None:
    root = write_tree(tmp_path / "m", {**iris_files(), name: b"\x80\x04K\x01."})
    with pytest.raises(UnsafeArtifact) as caught:
        detect(root)
    message = caught.value.message
    assert name in message
    assert "can run code" in message
    assert "accepted formats" in message
    assert caught.value.details == {"file": name}


def test_unsafe_file_in_a_sentence_transformers_dir_is_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "m", st_files(extra={"pytorch_model.bin": b"PK"}))
    with pytest.raises(UnsafeArtifact, match=re.escape("pytorch_model.bin")):
        detect(root)


@pytest.mark.parametrize("name", ["weights.onnx.data", "vocab.txt", "python.txt", "model.binary",
                                  "notes.py.md"])
def test_harmless_names_are_not_refused(tmp_path: Path, name: str) -> None:
    detect(write_tree(tmp_path / "m", {**iris_files(), name: b"data"}))


def test_links_inside_a_model_directory_are_refused(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "m", iris_files())
    (root / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(UnsafeArtifact, match="symbolic link"):
        detect(root)
