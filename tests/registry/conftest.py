"""Builders for the registry and threat tests: the tiny iris ONNX model, hand-made archives
(tar in every compression, zip) with hostile members, ONNX graphs with external data and
sentence-transformers-looking directories, and copies of model directories with edited JSON.
Plain functions, so ``tests/api`` and ``tests/formats`` can import them."""

from __future__ import annotations

import functools
import io
import json
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

IRIS_FEATURES = ["sepal length", "sepal width", "petal length", "petal width"]


@functools.cache
def iris_files() -> dict[str, bytes]:
    """``model.onnx`` (scikit-learn logistic regression on iris, via skl2onnx) and ``aiaas.json``."""
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    x = iris.data.astype(np.float32)
    labels = np.asarray(iris.target_names)[iris.target]
    model = LogisticRegression(max_iter=500).fit(x, labels)
    onnx_model = to_onnx(model, x[:1], options={"zipmap": False})
    manifest = {"task": "tabular-classification", "feature_names": IRIS_FEATURES,
                "labels": [str(c) for c in model.classes_]}
    return {"model.onnx": onnx_model.SerializeToString(),
            "aiaas.json": json.dumps(manifest).encode()}


def iris_record() -> dict[str, float]:
    return dict(zip(IRIS_FEATURES, [5.1, 3.5, 1.4, 0.2], strict=True))


def write_tree(root: Path, files: Mapping[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
    return root


@dataclass(frozen=True)
class Member:
    """One tar member; ``kind`` is a tarfile type (REGTYPE, SYMTYPE, LNKTYPE, CHRTYPE...)."""

    name: str
    data: bytes = b""
    kind: bytes = tarfile.REGTYPE
    linkname: str = ""


def make_tar(members: Iterable[Member | tuple[str, bytes]], *, compression: str = "gz") -> bytes:
    """A tar archive (``compression``: "gz", "bz2", "xz" or "" for none) holding ``members``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}",
                      format=tarfile.GNU_FORMAT) as tar:
        for item in members:
            member = item if isinstance(item, Member) else Member(*item)
            info = tarfile.TarInfo(member.name)
            info.type = member.kind
            info.linkname = member.linkname
            info.mode = 0o644
            if member.kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = 1, 3
            if member.kind == tarfile.REGTYPE:
                info.size = len(member.data)
                tar.addfile(info, io.BytesIO(member.data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def make_zip(members: Iterable[tuple[str, bytes]], *, modes: Mapping[str, int] | None = None,
             compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive; ``modes`` gives a member Unix mode bits (e.g. ``stat.S_IFLNK | 0o777``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = compression
            info.create_system = 3
            info.external_attr = ((modes or {}).get(name, stat.S_IFREG | 0o644)) << 16
            archive.writestr(info, payload)
    return buffer.getvalue()


def iris_tar(prefix: str = "iris/", extra: Mapping[str, bytes] | None = None,
             compression: str = "gz") -> bytes:
    files = {**iris_files(), **(extra or {})}
    return make_tar([(prefix + name, payload) for name, payload in files.items()],
                    compression=compression)


def iris_zip(extra: Mapping[str, bytes] | None = None) -> bytes:
    return make_zip(list({**iris_files(), **(extra or {})}.items()))


def linear_onnx(*, location: str | None = None, in_attribute: bool = False,
                in_subgraph: bool = False) -> tuple[bytes, bytes]:
    """A 4-feature linear regression graph, and its weights.

    With ``location`` the weights are external data at that path (return value two is what to
    save there); ``in_attribute`` puts them in a Constant node instead of an initializer, and
    ``in_subgraph`` inside an If node's branch.
    """
    import numpy as np
    from onnx import TensorProto, helper

    weights = np.asarray([[0.5], [-1.0], [2.0], [0.25]], dtype=np.float32)
    tensor = helper.make_tensor("W", TensorProto.FLOAT, list(weights.shape),
                                weights.tobytes(), raw=True)
    raw = weights.tobytes()
    if location is not None:
        tensor.ClearField("raw_data")
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])
    initializers = []
    nodes = []
    if in_subgraph:
        branch_out = helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 1])
        branch = helper.make_graph([helper.make_node("Constant", [], ["W"], value=tensor)],
                                   "branch", [], [branch_out])
        cond = helper.make_tensor("cond", TensorProto.BOOL, [], [True])
        nodes.append(helper.make_node("Constant", [], ["C"], value=cond))
        nodes.append(helper.make_node("If", ["C"], ["W"], then_branch=branch, else_branch=branch))
    elif in_attribute:
        nodes.append(helper.make_node("Constant", [], ["W"], value=tensor))
    else:
        initializers.append(tensor)
    nodes.append(helper.make_node("MatMul", ["X", "W"], ["Y"]))
    graph = helper.make_graph(nodes, "linear", [x], [y], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString(), raw


ST_MODULES: list[dict[str, Any]] = [
    {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
    {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
]


def st_files(modules: Any = None, extra: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """What detection looks at in a sentence-transformers dir, with fake (tiny) weights."""
    return {
        "modules.json": json.dumps(ST_MODULES if modules is None else modules).encode(),
        "config.json": json.dumps({"model_type": "bert", "hidden_size": 8}).encode(),
        "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
        "tokenizer.json": b"{}",
        "1_Pooling/config.json": json.dumps({"word_embedding_dimension": 8}).encode(),
        **(extra or {}),
    }


@pytest.fixture(scope="session")
def iris() -> dict[str, bytes]:
    return iris_files()


def copy_of(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def edit_json(path: Path, **changes: Any) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))
