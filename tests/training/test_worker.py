"""The worker as a real process: it stops with its server (a graceful stop and a SIGKILL of the
server both requeue the job it held, and nothing is registered behind the server's back), and it
rides out a 10 s outage of a PostgreSQL started for the test on a port of its own."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiaas.config import Settings
from aiaas.services import Services
from aiaas.training.jobs import JobInfo
from tests.conftest import HEARTBEAT_S, LiveServer, free_port, start_server
from tests.training.conftest import CALLER

LONG_JOB: dict[str, Any] = {"task": "image-classification", "dataset": "builtin:digits",
                            "name": "digits", "params": {"epochs": 300}}
QUICK_JOB: dict[str, Any] = {"task": "tabular-classification", "dataset": "builtin:iris",
                             "name": "iris", "params": {"algorithm": "logistic"}}


def _until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {seconds} s")


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(child) for child in handle.read().split()]


def _exited(pid: int) -> bool:
    """Gone, or a zombie nobody reaped yet (an orphan's new parent may be slow to)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in {"Z", "X"}
    except FileNotFoundError:
        return True


def _serve(data_dir: Path) -> LiveServer:
    return start_server(data_dir, AIAAS_EMBEDDED_WORKER="true", AIAAS_BUILTIN_MODELS="false",
                        AIAAS_JOB_HEARTBEAT_S=str(HEARTBEAT_S), AIAAS_LOG_JSON="false")


def _offline_job(data_dir: Path, job_id: str) -> JobInfo:
    services = Services.build(Settings(data_dir=data_dir, builtin_models=False, embedded_worker=False))
    try:
        with services.db.session() as session:
            from aiaas.db.training_tables import Job

            job = session.get(Job, job_id)
            assert job is not None
            return JobInfo.of(job)
    finally:
        services.db.dispose()


def test_the_worker_stops_with_its_server_and_gives_the_job_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = _serve(data_dir)
    try:
        with server.client() as client:
            job_id = client.post("/api/v1/jobs", json=LONG_JOB).json()["id"]
            _until(lambda: client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running", 60,
                   "the job running")
        (worker,) = _children(server.process.pid)
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(30)
        assert _until(lambda: _exited(worker), 10, "the worker's exit")
    finally:
        if server.process.poll() is None:
            server.process.kill()
    job = _offline_job(data_dir, job_id)
    assert (job.status, job.attempts) == ("queued", 0), job

    server = _serve(data_dir)
    try:
        with server.client() as client:
            _until(lambda: client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "running", 60,
                   "the requeued job running")
        (worker,) = _children(server.process.pid)
        server.process.kill()
        server.process.wait(10)
        _until(lambda: _exited(worker), 5, "the orphaned worker's exit")
    finally:
        if server.process.poll() is None:
            server.process.kill()
    job = _offline_job(data_dir, job_id)
    assert (job.status, job.attempts, job.version) == ("queued", 0, None), job


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture
def private_postgres() -> Iterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """A PostgreSQL of this test's own on a free port (never the shared one): its URL, and
    functions that stop it (immediate: as a crash) and start it again."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (pg_ctl) on this machine")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root and no runuser to start PostgreSQL as another user")
    home = Path(tempfile.mkdtemp(prefix="aiaas-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres")
    data, port = home / "data", free_port()
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                                 "postgres", "--no-sync"]), check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"

    def start() -> None:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                                     "-l", str(home / "log"), "-w", "start"]),
                       check=True, capture_output=True, timeout=60)

    def stop() -> None:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                     "stop"]), check=True, capture_output=True, timeout=60)

    start()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop, start
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                     "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def test_the_worker_rides_out_a_10_s_postgres_outage(
        tmp_path: Path, private_postgres: tuple[str, Callable[[], None], Callable[[], None]]) -> None:
    url, stop_postgres, start_postgres = private_postgres
    settings = Settings(data_dir=tmp_path / "data", database_url=url, builtin_models=False,
                        embedded_worker=False, log_json=False, job_heartbeat_s=HEARTBEAT_S)
    services = Services.build(settings)
    env = {**os.environ, "AIAAS_DATABASE_URL": url, "AIAAS_LOG_JSON": "false"}
    worker = subprocess.Popen([sys.executable, "-m", "aiaas.training.worker", "--data-dir",
                               str(settings.data_dir), "--heartbeat-s", str(HEARTBEAT_S)], env=env)
    try:
        long = services.jobs.create(CALLER, **LONG_JOB)
        _until(lambda: services.jobs.get(CALLER, long.id).status == "running", 60, "the job running")
        stop_postgres()
        time.sleep(10)
        assert worker.poll() is None
        start_postgres()
        restarted = time.monotonic()
        first = services.jobs.get(CALLER, long.id).heartbeat_at
        _until(lambda: services.jobs.get(CALLER, long.id).heartbeat_at != first, 30, "a new heartbeat")
        assert services.jobs.get(CALLER, long.id).status == "running"
        services.jobs.cancel(CALLER, long.id)
        _until(lambda: services.jobs.get(CALLER, long.id).finished, 60, "the cancel")
        quick = services.jobs.create(CALLER, **QUICK_JOB)
        done = _until(lambda: (job := services.jobs.get(CALLER, quick.id)).finished and job, 60,
                      "the next job")
        assert done.status == "succeeded", done.error
        assert worker.poll() is None and time.monotonic() - restarted < 120
    finally:
        worker.terminate()
        worker.wait(30)
        services.db.dispose()
