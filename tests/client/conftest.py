from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aiaas.client import Client
from tests.client.iris_model import write_iris_model

if TYPE_CHECKING:
    from tests.conftest import LiveServer


@pytest.fixture(scope="module")
def tenant_key(live_server: LiveServer) -> str:
    """A non-admin key of a tenant of its own, made through the SDK's admin call."""
    with Client(live_server.url, live_server.admin_key) as admin:
        return admin.create_key("sdk-tests", tenant="sdk").secret


@pytest.fixture
def client(live_server: LiveServer, tenant_key: str) -> Iterator[Client]:
    with Client(live_server.url, tenant_key) as sdk:
        yield sdk


@pytest.fixture
def admin(live_server: LiveServer) -> Iterator[Client]:
    with Client(live_server.url, live_server.admin_key) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def iris_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("iris") / "iris-model"
    write_iris_model(directory)
    return directory
