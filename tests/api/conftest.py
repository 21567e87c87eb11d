"""Fixtures for the API tests: the in-process app with the built-in diagnosis model registered."""

from __future__ import annotations

from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

from aiaas.builtin import DIAGNOSIS, ensure_builtins
from tests.conftest import Api


@pytest.fixture
def diagnosis(api: Api) -> str:
    ensure_builtins(api.services.registry, only={DIAGNOSIS})
    return DIAGNOSIS


@pytest.fixture(scope="session")
def cancer_records() -> list[dict[str, Any]]:
    data = load_breast_cancer()
    return [
        {str(name): float(value) for name, value in zip(data.feature_names, row, strict=True)}
        for row in data.data[:5]
    ]


@pytest.fixture(scope="session")
def tiny_model_archive(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A tar.gz of a real (tiny) ONNX iris classifier with its aiaas.json manifest."""
    import io
    import json
    import tarfile

    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris = load_iris()
    labels = np.asarray(iris.target_names)[iris.target]
    model = LogisticRegression(max_iter=500).fit(iris.data.astype(np.float32), labels)
    onnx_bytes = to_onnx(model, iris.data[:1].astype(np.float32),
                         options={"zipmap": False}).SerializeToString()
    manifest = json.dumps({"task": "tabular-classification",
                           "feature_names": [n.replace(" (cm)", "") for n in iris.feature_names],
                           "labels": [str(c) for c in model.classes_]}).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in (("iris/model.onnx", onnx_bytes), ("iris/aiaas.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()
