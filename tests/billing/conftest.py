"""Fixtures for billing: services on both databases with two small real models of tenant
``clinic`` (an iris classifier, and the same files as a second, unpriced model) and its keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aiaas.auth.principal import Principal, Scope
from aiaas.calls import ModelCall
from aiaas.calls.call import CallResult
from aiaas.services import Services
from tests.client.iris_model import IRIS_SETOSA, write_iris_model

ADMIN = Principal.system("default")


@dataclass
class Clinic:
    services: Services
    key: Principal
    other_key: Principal
    stranger: Principal
    """A key of another tenant, ``bank``."""

    async def predict(self, rows: int = 1, *, model: str = "iris", key: Principal | None = None,
                      version: int | None = None) -> CallResult:
        return await self.services.calls.predict(
            ModelCall(key or self.key, model, version, inputs=[IRIS_SETOSA] * rows))


def _key(services: Services, tenant: str) -> Principal:
    created = services.keys.create(ADMIN, name="t", tenant=tenant)
    return Principal(tenant=tenant, key_id=created.info.id,
                     scopes=frozenset({Scope.PREDICT, Scope.MODELS_READ}))


@pytest.fixture
async def clinic(services: Services, tmp_path: Path) -> AsyncIterator[Clinic]:
    write_iris_model(tmp_path / "iris")
    for name in ("iris", "iris-free"):
        services.registry.register(tmp_path / "iris", tenant="clinic", name=name,
                                   created_by="test")
    await services.start()
    try:
        yield Clinic(services, _key(services, "clinic"), _key(services, "clinic"),
                     _key(services, "bank"))
    finally:
        await services.stop()
