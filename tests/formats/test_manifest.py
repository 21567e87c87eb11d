"""The ``aiaas.json`` manifest: malformed, oversized or hostile manifests are invalid, naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiaas.errors import Invalid
from aiaas.formats import MAX_MANIFEST_BYTES, read_manifest
from tests.registry.conftest import iris_files, write_tree


@pytest.mark.parametrize(("manifest", "problem"), [
    (b"[" * 100_000, "not valid JSON"),
    (b"{\"task\": 1", "not valid JSON"),
    (json.dumps({"task": "tabular-classification", "run": "os.system"}).encode(), "run"),
    (b"{\"metrics\": {\"accuracy\": NaN}}", "metrics"),
    (b"{\"metrics\": {\"accuracy\": Infinity}}", "metrics"),
    (json.dumps({"description": "nul \u0000 byte"}).encode(), "NUL"),
    (json.dumps({"labels": ["a\u0000"]}).encode(), "NUL"),
    (b" " * (MAX_MANIFEST_BYTES + 1), "larger than"),
])
def test_bad_manifest_is_invalid(tmp_path: Path, manifest: bytes, problem: str) -> None:
    root = write_tree(tmp_path / "m", {**iris_files(), "aiaas.json": manifest})
    with pytest.raises(Invalid) as caught:
        read_manifest(root)
    assert type(caught.value) is Invalid
    assert "aiaas.json" in caught.value.message
    assert problem in caught.value.message
