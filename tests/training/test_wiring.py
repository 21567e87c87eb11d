"""Training wired like the server: the server's settings reach the worker whole (through the
environment, the database URL included), the worker reads flags, environment and config file as
the server does, and torch's threads follow ``torch_threads``, in a real worker process."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from aiaas.config import Settings
from aiaas.services import Services
from aiaas.training import wiring, worker
from aiaas.training.supervisor import start_worker, stop_worker
from tests.training.conftest import CALLER

CHANGED: dict[str, Any] = {
    "database_url": "postgresql+psycopg://u:secret@db/aiaas", "host": "0.0.0.0", "port": 9000,
    "max_upload_bytes": 12345, "max_image_pixels": 1000, "max_audio_seconds": 1.5,
    "batch_wait_ms": 2.5, "preload": ["iris", "all-minilm-l6-v2"], "torch_threads": 3,
    "onnx_lanes": 2, "cache_ttl_s": 0.0, "gc_freeze": False, "engine": "pytorch",
    "builtin_models": False, "embedded_worker": False, "job_heartbeat_s": 0.25,
    "log_level": "DEBUG", "log_json": False,
}


def clear_aiaas_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(wiring.ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.mark.parametrize("changes", [{}, CHANGED, {**CHANGED, "compile_dir": "/srv/compiled",
                                                   "preload": []}])
def test_the_environment_rebuilds_the_settings_exactly(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path,
                                                       changes: dict[str, Any]) -> None:
    settings = Settings(data_dir=tmp_path / "data", **changes)
    clear_aiaas_env(monkeypatch)
    for name, value in wiring.environment(settings).items():
        monkeypatch.setenv(name, value)
    rebuilt = Settings()
    assert rebuilt.model_dump() == {**settings.model_dump(), "database_url": settings.sqlalchemy_url}


def test_the_child_gets_no_aiaas_variable_the_settings_were_built_past(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIAAS_COMPILE_DIR", "/elsewhere")
    monkeypatch.setenv("AIAAS_TORCH_THREADS", "7")
    monkeypatch.setenv("AIAAS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    env = wiring.child_environment(Settings(data_dir=tmp_path, compile_dir=None, torch_threads=2))
    assert "AIAAS_COMPILE_DIR" not in env and "AIAAS_CONFIG" not in env
    assert env["AIAAS_TORCH_THREADS"] == "2" and env["OMP_NUM_THREADS"] == "1"
    assert env["AIAAS_DATABASE_URL"] == f"sqlite:///{tmp_path / 'aiaas.db'}"


def test_the_worker_command_line_reads_settings_as_the_server_does(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[tuple[Settings, float, int | None]] = []
    monkeypatch.setattr(worker, "run", lambda settings, *, poll_s, parent_pid, name, run_job: seen.append(
        (settings, poll_s, parent_pid)))
    clear_aiaas_env(monkeypatch)
    (tmp_path / "config.toml").write_text('job_heartbeat_s = 4.0\nmax_image_pixels = 500\n')
    monkeypatch.setenv("AIAAS_TORCH_THREADS", "3")
    monkeypatch.setenv("AIAAS_MAX_IMAGE_PIXELS", "600")
    worker.main(["--data-dir", str(tmp_path), "--poll-s", "0.1", "--parent-pid", "42"])
    worker.main(["--data-dir", str(tmp_path), "--heartbeat-s", "0.5"])
    (first, poll_s, parent), (second, _, _) = seen
    assert first.data_dir == tmp_path.resolve() and (poll_s, parent) == (0.1, 42)
    assert (first.torch_threads, first.max_image_pixels, first.job_heartbeat_s) == (3, 600, 4.0)
    assert second.job_heartbeat_s == 0.5


def test_torch_threads_default_to_every_core_but_one() -> None:
    assert wiring.torch_threads(Settings(torch_threads=3)) == 3
    assert wiring.torch_threads(Settings()) == max(1, (os.cpu_count() or 2) - 1)


def test_the_embedded_worker_trains_with_the_servers_torch_threads(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only the settings object names the thread count (no flag, no variable of the test's own),
    one more than the worker's default: the job's result reports what the worker ran with."""
    clear_aiaas_env(monkeypatch)
    threads = wiring.torch_threads(Settings()) + 1
    settings = Settings(data_dir=tmp_path / "data", builtin_models=False, log_json=False,
                        embedded_worker=False, job_heartbeat_s=0.5, torch_threads=threads)
    services = Services.build(settings)
    job = services.jobs.create(CALLER, task="image-classification",
                               dataset="builtin:digits", name="digits", params={"epochs": 1})
    process = start_worker(settings, "wiring-test")
    try:
        deadline = time.monotonic() + 120
        while not (done := services.jobs.get(CALLER, job.id)).finished:
            assert time.monotonic() < deadline and process.poll() is None, done
            time.sleep(0.2)
    finally:
        stop_worker(process)
        services.db.dispose()
    assert done.status == "succeeded", done.error
    assert done.result["threads"] == threads
