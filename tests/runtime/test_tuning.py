"""The serving tuner owns ``PATCH .../versions/{v}``: its scope, what may change, preload."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiaas.auth.principal import Principal, Scope
from aiaas.builtin import train_breast_cancer
from aiaas.errors import Forbidden, Invalid
from aiaas.services import Services

READER = Principal("clinic", "k", frozenset({Scope.MODELS_READ}))
WRITER = Principal("clinic", "k", frozenset({Scope.MODELS_READ, Scope.MODELS_WRITE}))


@pytest.fixture
def diagnosis(services: Services, tmp_path: Path) -> str:
    train_breast_cancer(tmp_path / "model")
    services.registry.register(tmp_path / "model", tenant="clinic", name="diagnosis",
                               created_by="test")
    return "diagnosis"


async def test_an_update_needs_models_write_before_anything_else(services: Services,
                                                                 diagnosis: str) -> None:
    for changes in ({}, {"preload": True}, {"max_batch_size": 4}):
        with pytest.raises(Forbidden, match="'models:write' scope"):
            await services.tuner.update(READER, diagnosis, 1, changes)
    version = services.registry.get_version(READER, diagnosis, 1)
    assert (version.preload, version.serving) == (False, {})


async def test_an_update_names_something_to_change(services: Services, diagnosis: str) -> None:
    with pytest.raises(Invalid, match="nothing to change") as caught:
        await services.tuner.update(WRITER, diagnosis, 1, {})
    assert caught.value.details["field"] == "body"
    both = await services.tuner.update(WRITER, diagnosis, 1, {"preload": True,
                                                             "max_batch_size": 4})
    assert (both.preload, both.serving) == (True, {"max_batch_size": 4})
    preload_only = await services.tuner.update(WRITER, diagnosis, 1, {"preload": False})
    assert (preload_only.preload, preload_only.serving) == (False, {"max_batch_size": 4})
