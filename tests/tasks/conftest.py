"""Fixtures for the task tests: the spoken sentence for the served speech path (the speech
helpers themselves live in ``tests.runtime.conftest``)."""

from __future__ import annotations

import pytest

from tests.runtime.conftest import espeak_wav


@pytest.fixture(scope="session")
def speech_wav() -> bytes:
    return espeak_wav()
