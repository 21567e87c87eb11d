"""A full disk is a 507 saying so on every write path (model upload, archive extraction, dataset
upload, anything built in a staging dir), never a 500 or a "corrupt archive", and nothing
partial is registered or left behind; once space is freed the same upload succeeds.

The live tests run a real server whose data dir is a real, small tmpfs that fills up (mounting
needs root; they skip otherwise). ``/dev/full`` gives the in-process tests a real ENOSPC."""

from __future__ import annotations

import csv
import io
import os
import random
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from aiaas.errors import InsufficientStorage
from aiaas.registry import archive
from aiaas.registry.disk import is_disk_full, storage_guard
from aiaas.registry.store import ArtifactStore
from tests.conftest import LiveServer, start_server, stop_server
from tests.registry.conftest import iris_files, iris_record, iris_tar, make_tar, make_zip

DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full on this system")


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


@needs_dev_full
async def test_receiving_onto_a_full_disk_is_insufficient_storage() -> None:
    with pytest.raises(InsufficientStorage, match="ran out of disk space while receiving"):
        await archive.receive(one_chunk(b"x" * (1024 * 1024)), DEV_FULL, limit=10**9)


@needs_dev_full
def test_a_full_disk_inside_a_staging_block_leaves_no_stage(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "artifacts", tmp_path / "tmp")
    with pytest.raises(InsufficientStorage) as caught, store.staging() as staged:
        (staged / "weights.bin").write_bytes(b"w")
        with DEV_FULL.open("wb") as handle:  # what a trainer writing its output would meet
            handle.write(b"x" * 1024 * 1024)
            handle.flush()
    assert caught.value.code == "insufficient_storage"
    assert list(store.tmp_dir.iterdir()) == [] and list(store.root.iterdir()) == []


def test_other_errors_pass_through_the_guard() -> None:
    with pytest.raises(FileNotFoundError), storage_guard("testing"):
        Path("/nonexistent/dir/file").write_bytes(b"x")
    assert not is_disk_full(ValueError("nothing to do with disks"))
    assert is_disk_full(RuntimeError("(sqlite3.OperationalError) database or disk is full"))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mount is not permitted here: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def full_server(small_disk: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """A live server whose data dir is the small disk; its database lives elsewhere. Its
    decrypted working copies (where sealed uploads are received) are on the same small disk."""
    server = start_server(small_disk, AIAAS_BUILTIN_MODELS="false", AIAAS_MIN_FREE_DISK_MB="1",
                          AIAAS_DATABASE_URL=f"sqlite:///{tmp_path / 'aiaas.db'}",
                          AIAAS_WORKSPACE_DIR=str(small_disk))
    yield server
    stop_server(server)


def fill(disk: Path, leave: int) -> Path:
    """A file that leaves about ``leave`` bytes free on ``disk``."""
    stats = os.statvfs(disk)
    filler = disk / f"filler-{uuid.uuid4().hex}"
    with filler.open("wb") as handle:
        remaining = stats.f_bavail * stats.f_frsize - leave
        while remaining > 0:
            handle.write(b"\1" * min(remaining, 1024 * 1024))
            remaining -= 1024 * 1024
    return filler


def assert_507(response: httpx.Response, what: str) -> None:
    assert response.status_code == 507, response.text
    error = response.json()["error"]
    assert error["code"] == "insufficient_storage"
    assert f"ran out of disk space while {what}" in error["message"], error["message"]


def assert_nothing_left(disk: Path) -> None:
    assert [p.name for p in (disk / "tmp").iterdir()] == []
    assert list((disk / "artifacts").glob("??/*")) == []
    datasets = disk / "datasets"
    assert not datasets.exists() or list(datasets.iterdir()) == []


def dataset_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["text", "label"])
    for i in range(rows):
        writer.writerow([f"row {i} " + "words " * 20, "ab"[i % 2]])
    return out.getvalue().encode()


def test_over_http_a_full_data_dir_is_507_on_every_write_path(full_server: LiveServer,
                                                              small_disk: Path) -> None:
    noise = random.Random(0).randbytes(30 * 1024 * 1024)
    zeros = b"\0" * (8 * 1024 * 1024)  # compresses to a few KiB: within any ratio's floor
    models = "/api/v1/models"
    octet = {"Content-Type": "application/octet-stream"}
    with full_server.client() as client:
        # Larger than the whole disk: receiving the upload fails.
        big = make_tar([("m/noise.bin", noise)], compression="")
        assert_507(client.post(f"{models}/noise/versions", content=big, headers=octet),
                   "receiving the upload")
        assert_nothing_left(small_disk)

        filler = fill(small_disk, leave=3 * 1024 * 1024)
        tar_bomb = make_tar([*((f"iris/{n}", d) for n, d in iris_files().items()),
                             ("iris/zeros.bin", zeros)])
        zip_bomb = make_zip([*iris_files().items(), ("zeros.bin", zeros)])
        for label, payload in (("tar.gz", tar_bomb), ("zip", zip_bomb)):
            response = client.post(f"{models}/iris/versions", content=payload, headers=octet)
            assert_507(response, "extracting the archive")
            assert "corrupt" not in response.text, label
        assert_nothing_left(small_disk)

        response = client.post("/api/v1/datasets",
                               files={"file": ("big.csv", dataset_csv(40_000), "text/csv")})
        assert_507(response, "receiving the upload")
        assert [d for d in client.get("/api/v1/datasets").json()["datasets"]
                if not d["builtin"]] == []
        assert_nothing_left(small_disk)
        assert client.get(f"{models}/iris").status_code == 404

        filler.unlink()  # an operator frees space: the same kind of request now succeeds
        response = client.post(f"{models}/iris/versions", content=iris_tar(), headers=octet)
        assert response.status_code == 201, response.text
        predicted = client.post(f"{models}/iris/predict", json={"inputs": [iris_record()]})
        assert predicted.status_code == 200, predicted.text
