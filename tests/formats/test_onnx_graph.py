"""ONNX graphs: the iris model is detected, external data outside the directory is refused (in an
initializer, an attribute or a subgraph), inside it is accepted, missing or unparsable is invalid."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiaas.errors import Invalid, UnsafeArtifact
from aiaas.formats import detect
from tests.registry.conftest import iris_files, linear_onnx, write_tree


def test_iris_onnx_is_detected(tmp_path: Path) -> None:
    detected = detect(write_tree(tmp_path / "m", iris_files()))
    assert detected.format == "onnx"
    assert detected.config == {"model_file": "model.onnx"}
    assert detected.manifest.task == "tabular-classification"


OUTSIDE = ["../../etc/passwd", "/etc/passwd", "../model.data", "sub/../../x.data",
           "..\\..\\windows\\x", "C:\\x.data"]


@pytest.mark.parametrize("where", ["initializer", "attribute", "subgraph"])
@pytest.mark.parametrize("location", OUTSIDE)
def test_onnx_external_data_outside_the_directory_is_refused(
    tmp_path: Path, location: str, where: str
) -> None:
    model, _weights = linear_onnx(location=location, in_attribute=where == "attribute",
                                  in_subgraph=where == "subgraph")
    root = write_tree(tmp_path / "data" / "m", {"model.onnx": model})
    # the target exists, so refusing it is not merely "file missing"
    (tmp_path / "data" / "model.data").write_bytes(b"\0" * 16)
    with pytest.raises(UnsafeArtifact) as caught:
        detect(root)
    assert repr(location) in caught.value.message
    assert "outside the model directory" in caught.value.message


@pytest.mark.parametrize("where", ["initializer", "attribute", "subgraph"])
def test_onnx_external_data_inside_the_directory_is_accepted(tmp_path: Path, where: str) -> None:
    model, weights = linear_onnx(location="weights/w.data", in_attribute=where == "attribute",
                                 in_subgraph=where == "subgraph")
    root = write_tree(tmp_path / "m", {"model.onnx": model, "weights/w.data": weights})
    assert detect(root).format == "onnx"


def test_onnx_external_data_that_is_missing_is_invalid(tmp_path: Path) -> None:
    model, _ = linear_onnx(location="missing.data")
    with pytest.raises(Invalid, match="missing") as caught:
        detect(write_tree(tmp_path / "m", {"model.onnx": model}))
    assert type(caught.value) is Invalid


def test_onnx_that_does_not_parse_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="not a valid ONNX model"):
        detect(write_tree(tmp_path / "m", {"model.onnx": b"\x08\x07garbage" * 50}))
