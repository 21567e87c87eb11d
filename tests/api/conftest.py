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
