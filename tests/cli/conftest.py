from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.client.conftest import write_speech

if TYPE_CHECKING:
    from tests.conftest import LiveServer

RunCli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def cli_key(live_server: LiveServer) -> str:
    """A non-admin key of tenant 'cli', made with the real CLI offline."""
    return live_server.create_key("cli")


@pytest.fixture
def aiaas(live_server: LiveServer, cli_key: str) -> RunCli:
    """Run ``python -m aiaas ARGS`` against the live server; ``key=`` swaps the API key."""

    def run(*args: str, key: str | None = None, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
        env = {**live_server.env, "AIAAS_URL": live_server.url, "AIAAS_API_KEY": key or cli_key}
        return subprocess.run([sys.executable, "-m", "aiaas", *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WAV of ``tests.client.conftest.SPEECH_TEXT`` made with espeak-ng."""
    return write_speech(tmp_path_factory.mktemp("speech") / "out.wav")
