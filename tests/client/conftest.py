from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aiaas.client import Client
from tests.client.iris_model import write_iris_model

if TYPE_CHECKING:
    from tests.conftest import LiveServer

SPEECH_TEXT = "Hospitals keep their data on site. Please send the report to the city council before Friday."


def write_speech(path: Path) -> Path:
    """``SPEECH_TEXT`` spoken by espeak-ng (en-us, 140 words a minute) into a WAV at ``path``;
    the test is skipped when espeak-ng is missing."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng): no speech to test")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path), SPEECH_TEXT],
                   check=True, capture_output=True, timeout=60)
    return path


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


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_speech(tmp_path_factory.mktemp("speech") / "out.wav")
