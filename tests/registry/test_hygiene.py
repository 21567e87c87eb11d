"""Crash debris is swept at start and periodically, and only debris: a dead process's staging
dirs go at once, a live peer's never (whatever their age), an artifact no version uses goes
after its safety window, and a store mostly unknown to the database is left alone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiaas.config import Settings
from aiaas.registry import owners
from aiaas.registry.hygiene import Hygiene, sweep_artifacts, sweep_staging
from aiaas.registry.service import Registry
from aiaas.services import Services
from tests.conftest import start_server, stop_server
from tests.registry.conftest import iris_files, iris_tar, write_tree

TENANT = "alpha"
OLD = time.time() - 3 * 3600

# A peer process: takes a staging dir in the tmp dir, prints it, then waits to be killed.
PEER = """
import sys, time
from pathlib import Path
from aiaas.registry.owners import staging_dir
path = staging_dir(Path(sys.argv[1]))
(path / "upload").write_bytes(b"x" * 1000)
print(path, flush=True)
time.sleep(600)
"""


def peer(tmp_dir: Path) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen([sys.executable, "-c", PEER, str(tmp_dir)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def age(path: Path) -> None:
    os.utime(path, (OLD, OLD))


@pytest.fixture
def peers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_a_dead_owners_staging_goes_at_once_and_a_live_peers_never(
        tmp_path: Path, peers: list[subprocess.Popen[str]]) -> None:
    tmp_dir = tmp_path / "data" / "tmp"
    live, live_dir = peer(tmp_dir)
    dead, dead_dir = peer(tmp_dir)
    peers.extend([live, dead])
    mine = owners.staging_dir(tmp_dir)
    for path in (live_dir, dead_dir, mine):
        age(path)
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    legacy_old, legacy_new = tmp_dir / "stage-old", tmp_dir / "stage-new"
    legacy_old.mkdir()
    legacy_new.mkdir()
    age(legacy_old)

    removed = sweep_staging(tmp_dir)

    assert sorted(removed) == sorted([dead_dir.name, "stage-old"])
    assert live_dir.is_dir() and mine.is_dir() and legacy_new.is_dir()
    assert not dead_dir.exists()
    lock_files = {p.name for p in owners.owners_dir(tmp_dir).iterdir()}
    assert len(lock_files) == 2  # this process's and the live peer's; the dead one's is gone
    assert sweep_staging(tmp_dir) == []


def register(services: Services, name: str, variant: int = 0) -> str:
    files = {**iris_files(), "notes.txt": f"variant {variant}".encode()}
    source = write_tree(services.registry.store.staging_dir(), files)
    version = services.registry.register(source, tenant=TENANT, name=name, created_by="k",
                                         move=True)
    return services.registry.artifacts.stored_name(version)  # its sealed copy's name


def orphan(registry: Registry, variant: int, *, old: bool = True) -> str:
    """What a kill between the rename into the store and the insert of the row leaves."""
    digest, _ = registry.store.put_copy(write_tree(registry.store.tmp_dir.parent / f"o{variant}",
                                                   {"model.bin": f"orphan {variant}".encode()}))
    if old:
        age(registry.store.path_of(digest))
    return digest


def test_unreferenced_artifacts_go_after_their_window_and_used_ones_stay(
        services: Services) -> None:
    registry = services.registry
    used = [register(services, "iris", i) for i in range(3)]
    for digest in used:
        age(registry.store.path_of(digest))
    stale, fresh = orphan(registry, 1), orphan(registry, 2, old=False)

    assert sweep_artifacts(registry, older_than_s=900) == [stale]
    assert not registry.store.path_of(stale).exists()
    assert registry.store.path_of(fresh).is_dir()
    assert all(registry.store.path_of(digest).is_dir() for digest in used)
    # Reusing an old artifact (same content again) touches it: it is young until its row exists.
    age(registry.store.path_of(fresh))
    registry.store.put_copy(write_tree(registry.store.tmp_dir.parent / "again",
                                       {"model.bin": b"orphan 2"}))
    assert sweep_artifacts(registry, older_than_s=900) == []


def test_a_store_mostly_unknown_to_the_database_is_left_alone(services: Services) -> None:
    registry = services.registry
    register(services, "iris")
    strays = [orphan(registry, i) for i in range(3)]
    assert sweep_artifacts(registry, older_than_s=0) == []
    assert all(registry.store.path_of(digest).is_dir() for digest in strays)


async def test_the_sweep_runs_periodically(services: Services,
                                           peers: list[subprocess.Popen[str]]) -> None:
    hygiene = Hygiene(services.registry, interval_s=0.2, artifact_age_s=900)
    await hygiene.start()
    try:
        process, path = peer(services.settings.tmp_dir)
        peers.append(process)
        await asyncio.sleep(0.5)
        assert path.is_dir()  # alive: kept
        process.kill()
        process.wait()
        for _ in range(50):
            if not path.exists():
                break
            await asyncio.sleep(0.1)
        assert not path.exists()
    finally:
        await hygiene.stop()


def slow_upload(url: str, key: str, started: threading.Event) -> None:
    """An upload that sends a first chunk and then stalls (its server is killed meanwhile)."""

    def body() -> Iterator[bytes]:
        yield iris_tar()[:1024]
        started.set()
        time.sleep(60)
        yield b""

    with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
        httpx.post(f"{url}/api/v1/models/iris/versions", content=body(), timeout=90,
                   headers={"Authorization": f"Bearer {key}",
                            "Content-Type": "application/octet-stream"})


def test_over_http_two_servers_share_a_data_dir_and_a_killed_ones_debris_is_swept(
        tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # Plain files: a sealed tenant's upload is staged in memory-backed space instead, whose
    # dead owners' dirs the workspace sweeps (tests/crypto/test_vault.py).
    env = {"AIAAS_BUILTIN_MODELS": "false", "AIAAS_HYGIENE_INTERVAL_S": "0.5",
           "AIAAS_ORPHAN_ARTIFACT_AGE_S": "60", "AIAAS_ENCRYPT_AT_REST": "false"}
    first = start_server(data_dir, **env)
    second = None
    try:
        started = threading.Event()
        uploader = threading.Thread(target=slow_upload, args=(first.url, first.admin_key, started),
                                    daemon=True)
        uploader.start()
        assert started.wait(30)
        tmp_dir = data_dir / "tmp"
        for _ in range(50):
            staged = list(tmp_dir.glob("stage-*"))
            if staged:
                break
            time.sleep(0.1)
        assert len(staged) == 1
        age(staged[0])
        with first.client() as client:  # one real version, aged past the window
            assert client.post("/api/v1/models/kept/versions", content=iris_tar(),
                               headers={"Content-Type": "application/octet-stream"}
                               ).status_code == 201
        kept = {p.name for p in (data_dir / "artifacts").glob("??/*")}
        for digest in kept:
            age(data_dir / "artifacts" / digest[:2] / digest)

        second = start_server(data_dir, **env)  # sweeps at start, then every 0.5 s
        time.sleep(1.5)
        assert staged[0].is_dir(), "a live peer's upload was swept"

        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        services = Services.build(Settings(data_dir=data_dir, builtin_models=False))
        try:
            stray = orphan(services.registry, 7)
        finally:
            services.db.dispose()
        for _ in range(100):
            if not staged[0].exists() and not (data_dir / "artifacts" / stray[:2] / stray).exists():
                break
            time.sleep(0.1)
        assert not staged[0].exists()
        assert not (data_dir / "artifacts" / stray[:2] / stray).exists()
        assert {p.name for p in (data_dir / "artifacts").glob("??/*")} == kept
        with second.client() as client:
            assert client.get("/api/v1/models/kept").status_code == 200
    finally:
        if second is not None:
            stop_server(second)
        if first.process.poll() is None:
            stop_server(first)
