"""The SDK's training job and dataset calls against a real server over real HTTP, with a real
worker process."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from aiaas.client import (
    AsyncClient,
    BadRequestError,
    Client,
    ConflictError,
    JobEvent,
    NotFoundError,
)
from tests.client.iris_model import IRIS_SETOSA
from tests.conftest import LiveServer

TIMEOUT_S = 180
IRIS = {"algorithm": "logistic"}


def write_table(path: Path, rows: int, seed: int = 0) -> int:
    """A CSV of two informative features, a label and a split column; returns its test rows."""
    rng = np.random.default_rng(seed)
    parts = rng.choice(["train", "validation", "test"], rows, p=[0.6, 0.15, 0.25])
    parts[:4] = ["train", "train", "test", "test"]
    lines = ["x1,x2,label,part"]
    for i in range(rows):
        sign = 1 if i % 2 == 0 else -1
        lines.append(f"{rng.normal(2.0 * sign):.5f},{rng.normal(sign):.5f},"
                     f"{'good' if sign > 0 else 'bad'},{parts[i]}")
    path.write_text("\n".join(lines) + "\n")
    return int((parts == "test").sum())


def start_worker(live_server: LiveServer, *command: str) -> subprocess.Popen[bytes]:
    """A training worker process on the live server's data dir, logging next to the server's."""
    env = {**live_server.env, "OMP_NUM_THREADS": "1"}
    with (live_server.data_dir.parent / f"worker-{command[-1]}.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", *command], env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def worker(live_server: LiveServer) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker(live_server, "aiaas.training.worker", "--data-dir",
                           str(live_server.data_dir), "--poll-s", "0.1")
    yield process
    stop_worker(process)


class CuttingProxy:
    """A TCP proxy to the server that breaks the first job event stream ``limit`` bytes into
    its response, as a network failure would, and counts the event streams opened."""

    def __init__(self, port: int, limit: int) -> None:
        self.port, self.limit = port, limit
        self.streams = 0
        self.cut = False
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                downstream, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            cut_at: list[int] = []
            threading.Thread(target=self._requests, args=(downstream, upstream, cut_at), daemon=True).start()
            threading.Thread(target=self._responses, args=(upstream, downstream, cut_at), daemon=True).start()

    def _requests(self, downstream: socket.socket, upstream: socket.socket, cut_at: list[int]) -> None:
        while chunk := _recv(downstream):
            if b"/events HTTP/1.1" in chunk:
                self.streams += 1
                if not self.cut and not cut_at:
                    cut_at.append(self.limit)
            upstream.sendall(chunk)
        _close(downstream, upstream)

    def _responses(self, upstream: socket.socket, downstream: socket.socket, cut_at: list[int]) -> None:
        sent = 0
        while chunk := _recv(upstream):
            if cut_at and not self.cut:
                sent += len(chunk)
                if sent >= cut_at[0]:
                    downstream.sendall(chunk[: len(chunk) - (sent - cut_at[0])])
                    self.cut = True
                    break
            downstream.sendall(chunk)
        _close(downstream, upstream)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def test_train_follow_and_read_the_result(client: Client, worker: subprocess.Popen[bytes],
                                          tmp_path: Path) -> None:
    job = client.create_job("tabular-classification", "builtin:iris", "iris-sdk", params=IRIS)
    assert job.status == "queued" and job.params["algorithm"] == "logistic"

    events = list(client.job_events(job.id, timeout=TIMEOUT_S))
    assert events[0].status == "queued"
    assert [e.id for e in events] == sorted({e.id for e in events})
    assert events[-1].finished and events[-1].status == "succeeded" and events[-1].data["version"] == 1
    progress = [e for e in events if e.type == "progress"]
    assert progress and {"split", "fit", "evaluated"} <= {e.stage for e in progress}
    assert events.index(progress[-1]) < len(events) - 1
    assert progress[-1].data["test_accuracy"] > 0.8 and progress[-1].time is not None

    resumed = list(client.job_events(job.id, after=events[2].id))
    assert [e.id for e in resumed] == [e.id for e in events[3:]]

    done = client.get_job(job.id)
    assert done.succeeded and done.finished and done.version == 1 and done.promoted is True
    assert done.metrics["accuracy"] == progress[-1].data["test_accuracy"]
    assert client.get_version("iris-sdk", 1).metrics["test_accuracy"] == done.metrics["accuracy"]
    assert client.predict("iris-sdk", [IRIS_SETOSA]).outputs[0]["label"] == "setosa"
    assert job.id in {listed.id for listed in client.list_jobs(limit=10)}

    assert "confusion_matrix" in done.plots
    png = client.download_plot(job.id, "confusion_matrix", tmp_path)
    assert png == tmp_path / "confusion_matrix.png" and png.read_bytes().startswith(b"\x89PNG")
    with pytest.raises(NotFoundError):
        client.download_plot(job.id, "no_such_plot", tmp_path)
    logs = client.job_logs(job.id)
    assert "status status=succeeded" in logs and "progress stage=evaluated" in logs


def test_a_dropped_event_stream_resumes_after_the_last_event(
        live_server: LiveServer, tenant_key: str, client: Client, worker: subprocess.Popen[bytes]) -> None:
    proxy = CuttingProxy(int(live_server.url.rsplit(":", 1)[1]), limit=400)
    try:
        with Client(proxy.url, tenant_key) as flaky:
            job = flaky.create_job("tabular-classification", "builtin:iris", "iris-resume", params=IRIS)
            seen = list(flaky.job_events(job.id, timeout=TIMEOUT_S))
    finally:
        proxy.close()
    assert proxy.cut and proxy.streams >= 2
    assert [e.id for e in seen] == [e.id for e in client.job_events(job.id)]
    assert seen[-1].status == "succeeded"


def test_wait_with_a_gate_that_does_not_hold(client: Client, worker: subprocess.Popen[bytes]) -> None:
    job = client.create_job("tabular-classification", "builtin:iris", "iris-gated",
                            params={**IRIS, "seed": 3}, promote_if="accuracy>1")
    seen: list[JobEvent] = []
    done = client.wait_job(job.id, on_event=seen.append, timeout=TIMEOUT_S)
    assert done.succeeded and done.version == 1 and done.promoted is False
    assert done.result["promotion_reason"].startswith("not accuracy")
    assert seen[-1].status == "succeeded" and any(e.type == "progress" for e in seen)


def test_a_failed_job_is_returned_with_its_reason(client: Client, worker: subprocess.Popen[bytes]) -> None:
    first = client.wait_job(client.create_job("tabular-regression", "builtin:diabetes", "clash",
                                              params={"algorithm": "linear"}).id, timeout=TIMEOUT_S)
    assert first.succeeded
    clash = client.wait_job(client.create_job("tabular-classification", "builtin:iris", "clash",
                                              params=IRIS).id, timeout=TIMEOUT_S)
    assert clash.status == "failed" and not clash.succeeded and clash.version is None
    assert clash.error is not None and "tabular-regression" in clash.error


def test_cancel_a_running_job(client: Client, worker: subprocess.Popen[bytes]) -> None:
    job = client.create_job("tabular-classification", "builtin:breast_cancer", "cancelled",
                            params={"algorithm": "auto", "cv_folds": 10, "n_estimators": 500})
    statuses = []
    for event in client.job_events(job.id, timeout=TIMEOUT_S):
        if event.type == "progress" and not statuses:
            statuses.append(client.cancel_job(job.id).status)
    assert statuses == ["running"]
    assert event.finished and event.status == "cancelled"
    assert client.get_job(job.id).status == "cancelled"
    with pytest.raises(ConflictError):
        client.cancel_job(job.id)


def test_bad_requests_name_the_problem(client: Client) -> None:
    with pytest.raises(BadRequestError) as unknown_param:
        client.create_job("tabular-classification", "builtin:iris", "bad", params={"epochz": 3})
    assert unknown_param.value.details["field"] == "params.epochz"
    with pytest.raises(BadRequestError) as unknown_dataset:
        client.create_job("tabular-classification", "builtin:nope", "bad")
    assert unknown_dataset.value.details["field"] == "dataset"
    with pytest.raises(BadRequestError) as base_model:
        client.create_job("tabular-classification", "builtin:iris", "bad", base_model="all-minilm-l6-v2")
    assert base_model.value.details["field"] == "params.base_model"
    with pytest.raises(ValueError, match="give it once"):
        client.create_job("text-classification", "builtin:sentiment", "bad",
                          params={"base_model": "a"}, base_model="b")
    with pytest.raises(NotFoundError):
        client.get_job("0" * 32)
    with pytest.raises(NotFoundError):
        next(iter(client.job_events("0" * 32)))
    with pytest.raises(ValueError, match="timeout"):
        client.job_events("0" * 32, timeout=0)


def test_another_tenants_job_is_not_found(client: Client, admin: Client) -> None:
    job = admin.create_job("tabular-classification", "builtin:iris", "not-yours", params=IRIS)
    with pytest.raises(NotFoundError):
        client.get_job(job.id)
    with pytest.raises(NotFoundError):
        client.cancel_job(job.id)
    assert admin.wait_job(job.id, timeout=TIMEOUT_S).succeeded


async def test_async_client_jobs(live_server: LiveServer, tenant_key: str,
                                 worker: subprocess.Popen[bytes]) -> None:
    async with AsyncClient(live_server.url, tenant_key) as client:
        job = await client.create_job("tabular-classification", "builtin:iris", "iris-async",
                                      params=IRIS)
        types = [event.type async for event in client.job_events(job.id, timeout=TIMEOUT_S)]
        assert types[0] == "status" and "progress" in types and types[-1] == "status"

        seen: list[int] = []

        async def record(event: JobEvent) -> None:
            await asyncio.sleep(0)
            seen.append(event.id)

        done = await client.wait_job(job.id, on_event=record)
        assert done.succeeded and done.version == 1 and len(seen) == len(types)
        assert job.id in {listed.id for listed in await client.list_jobs()}
        assert "status=succeeded" in await client.job_logs(job.id)


def test_datasets_upload_list_show_train_delete(client: Client, worker: subprocess.Popen[bytes],
                                                tmp_path: Path) -> None:
    source = tmp_path / "Patients 2024.csv"
    test_rows = write_table(source, 80)
    sent: list[tuple[int, int]] = []
    dataset = client.upload_dataset(source, split_column="part",
                                    progress=lambda done, total: sent.append((done, total)))
    assert dataset.id.startswith("ds-") and dataset.name == "patients-2024" and not dataset.builtin
    assert (dataset.kind, dataset.format, dataset.rows, dataset.label) == ("table", "csv", 80, "label")
    assert dataset.columns == {"x1": "number", "x2": "number", "label": "label", "part": "label"}
    assert dataset.stats["classes"] == {"bad": 40, "good": 40}
    assert dataset.size_bytes == source.stat().st_size
    assert dataset.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert sent[0][0] == 0 and sent[-1][0] == sent[-1][1] > dataset.size_bytes

    listed = {entry.id: entry for entry in client.list_datasets()}
    assert listed[dataset.id] == dataset and listed["builtin:iris"].builtin
    assert listed["builtin:iris"].rows == 150 and listed["builtin:iris"].format is None
    assert client.get_dataset("patients-2024") == client.get_dataset(dataset.id) == dataset

    job = client.create_job("tabular-classification", "patients-2024", "patients", params=IRIS)
    done = client.wait_job(job.id, timeout=TIMEOUT_S)
    assert done.succeeded and done.result["split"]["test"] == test_rows == done.metrics["samples"]

    with pytest.raises(ConflictError):
        client.upload_dataset(source, name="patients-2024")
    with pytest.raises(ConflictError):
        client.delete_dataset("builtin:iris")
    client.delete_dataset("patients-2024")
    with pytest.raises(NotFoundError):
        client.get_dataset(dataset.id)


def test_bad_dataset_uploads_name_the_problem(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "broken.csv"
    write_table(source, 20)
    lines = source.read_text().splitlines()
    source.write_text("\n".join([*lines[:8], "1,2", *lines[8:]]) + "\n")
    with pytest.raises(BadRequestError) as broken:
        client.upload_dataset(source)
    assert "line 9" in broken.value.message
    valid = tmp_path / "valid.csv"
    write_table(valid, 20)
    with pytest.raises(BadRequestError) as label:
        client.upload_dataset(valid, label="nope")
    assert "nope" in label.value.message and label.value.details["field"] == "label"
    spreadsheet = tmp_path / "data.xlsx"
    spreadsheet.write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"\.csv, \.jsonl or \.zip"):
        client.upload_dataset(spreadsheet)
    with pytest.raises(FileNotFoundError):
        client.upload_dataset(tmp_path / "missing.csv")


async def test_async_upload_streams_a_big_file(live_server: LiveServer, tenant_key: str,
                                               tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    write_table(source, 40_000, seed=1)
    assert source.stat().st_size > 1024 * 1024
    sent: list[int] = []
    async with AsyncClient(live_server.url, tenant_key) as client:
        dataset = await client.upload_dataset(source, name="big", label="label",
                                              progress=lambda done, total: sent.append(done))
        assert dataset.rows == 40_000 and dataset.size_bytes == source.stat().st_size
        assert len(sent) > 3 and sent == sorted(sent)
        assert [d.id for d in await client.list_datasets() if d.name == "big"] == [dataset.id]
        assert (await client.get_dataset("big")).sha256 == dataset.sha256
        await client.delete_dataset(dataset.id)
        with pytest.raises(NotFoundError):
            await client.get_dataset("big")
