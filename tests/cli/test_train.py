"""``aiaas train``, ``jobs``, ``datasets`` and ``worker`` run as subprocesses against a real server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiaas.client import Client
from tests.cli.conftest import RunCli
from tests.client.test_jobs import write_table
from tests.conftest import LiveServer

IRIS = ("--task", "tabular-classification", "--dataset", "builtin:iris", "--param", "algorithm=logistic")
SLOW = ("--task", "image-classification", "--dataset", "builtin:digits", "--param", "epochs=300")
"""Minutes of CNN epochs, with progress every few batches: a job surely still running when the
follower is interrupted and when it is cancelled (a minute of cross-validation once finished
first on a quiet machine), and a cancel that lands within a few batches."""


def _ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (result.stdout, result.stderr)


@pytest.fixture(scope="module")
def worker(live_server: LiveServer) -> Iterator[subprocess.Popen[str]]:
    """``aiaas worker`` on the live server's data dir (from ``AIAAS_DATA_DIR``)."""
    log = (live_server.data_dir.parent / "worker-cli.log").open("a")
    process = subprocess.Popen([sys.executable, "-m", "aiaas", "worker"], text=True, stdout=log,
                               stderr=subprocess.STDOUT, env={**live_server.env, "OMP_NUM_THREADS": "1"})
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="module")
def train_key(live_server: LiveServer) -> str:
    return live_server.create_key("cli-train")


@pytest.fixture
def run(aiaas: RunCli, train_key: str, worker: subprocess.Popen[str]) -> RunCli:
    """``aiaas`` as a tenant of its own, with a worker running."""
    assert worker.poll() is None, "aiaas worker exited"

    def call(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return aiaas(*args, key=train_key, stdin=stdin)

    return call


def test_train_wait_json_prints_the_finished_job_last(run: RunCli) -> None:
    result = run("train", *IRIS, "--name", "iris", "--wait", "--json")
    _ok(result)
    job = json.loads(result.stdout)
    assert result.stdout.rstrip().endswith("}")
    assert job["status"] == "succeeded" and job["model"] == "iris" and job["version"] == 1
    assert job["metrics"]["accuracy"] > 0.8 and "confusion_matrix" in job["result"]["plots"]
    assert job["result"]["promoted"] is True
    assert "status succeeded" in result.stderr and "evaluated" in result.stderr

    table = run("train", *IRIS, "--name", "iris", "--param", "seed=1", "--promote-if", "accuracy>=0.5",
                "--wait")
    _ok(table)
    assert "version 2: promoted to production (accuracy" in table.stdout
    assert "f1_macro" in table.stdout and "confusion matrix" in table.stdout and "setosa" in table.stdout


def test_train_prints_the_id_then_jobs_commands_follow_it(run: RunCli, tmp_path: Path) -> None:
    queued = run("train", *IRIS, "--name", "iris-jobs", "--param", "seed=7", "--param", "c=0.5")
    _ok(queued)
    job_id = queued.stdout.strip()
    assert len(job_id) == 32 and "aiaas jobs follow" in queued.stderr

    followed = run("jobs", "follow", job_id, "--json")
    _ok(followed)
    job = json.loads(followed.stdout)
    assert job["id"] == job_id and job["status"] == "succeeded"
    assert job["params"]["seed"] == 7 and job["params"]["c"] == 0.5

    shown = run("jobs", "show", job_id)
    _ok(shown)
    assert "succeeded" in shown.stdout and "accuracy" in shown.stdout and "seed=7" in shown.stdout
    listed = run("jobs", "list", "--json")
    _ok(listed)
    assert job_id in [entry["id"] for entry in json.loads(listed.stdout)]
    logs = run("jobs", "logs", job_id)
    _ok(logs)
    assert "status status=succeeded" in logs.stdout

    target = tmp_path / "cm.png"
    plotted = run("jobs", "plot", job_id, "confusion_matrix", "--output", str(target))
    _ok(plotted)
    assert target.read_bytes().startswith(b"\x89PNG")
    missing = run("jobs", "plot", job_id, "nope", "--output", str(tmp_path))
    assert missing.returncode == 1 and "no plot" in missing.stderr


def test_a_failed_job_exits_non_zero_with_its_reason(run: RunCli) -> None:
    _ok(run("train", "--task", "tabular-regression", "--dataset", "builtin:diabetes", "--name", "clash",
            "--param", "algorithm=linear", "--wait"))
    failed = run("train", *IRIS, "--name", "clash", "--wait", "--json")
    assert failed.returncode == 1
    job = json.loads(failed.stdout)
    assert job["status"] == "failed" and job["version"] is None and "tabular-regression" in job["error"]
    assert f"error: job {job['id']} failed" in failed.stderr


@pytest.mark.parametrize(("params", "message"), [
    (("--param", "algorithm"), "is not KEY=VALUE"),
    (("--param", "=3"), "is not KEY=VALUE"),
    (("--param", "seed=1", "--param", "seed=2"), "'seed' is given twice"),
])
def test_a_malformed_param_is_a_usage_error(run: RunCli, params: tuple[str, ...], message: str) -> None:
    result = run("train", *IRIS, "--name", "bad", *params)
    assert result.returncode == 2 and message in result.stderr and result.stdout == ""


def test_params_the_server_refuses_are_named(run: RunCli) -> None:
    unknown = run("train", *IRIS, "--name", "bad", "--param", "epochz=3")
    assert unknown.returncode == 1 and "params.epochz" in unknown.stderr
    wrong_type = run("train", *IRIS, "--name", "bad", "--param", "seed=-1")
    assert wrong_type.returncode == 1 and "params.seed" in wrong_type.stderr
    base = run("train", *IRIS, "--name", "bad", "--base-model", "all-minilm-l6-v2")
    assert base.returncode == 1 and "params.base_model" in base.stderr
    both = run("train", *IRIS, "--name", "bad", "--base-model", "a", "--param", "base_model=b")
    assert both.returncode == 2 and "give the base model once" in both.stderr
    gate = run("train", *IRIS, "--name", "bad", "--promote-if", "accuracy is high")
    assert gate.returncode == 1 and "promote_if" in gate.stderr


def test_ctrl_c_stops_following_and_cancel_stops_the_job(live_server: LiveServer, run: RunCli,
                                                         train_key: str) -> None:
    queued = run("train", *SLOW, "--name", "cancelled")
    _ok(queued)
    job_id = queued.stdout.strip()
    with Client(live_server.url, train_key) as sdk:
        deadline = time.monotonic() + 60
        while sdk.get_job(job_id).status == "queued" and time.monotonic() < deadline:
            time.sleep(0.2)

        env = {**live_server.env, "AIAAS_URL": live_server.url, "AIAAS_API_KEY": train_key}
        # A shell that started the suite in the background leaves SIGINT ignored, and children
        # inherit that (Python then installs no Ctrl-C handler): give the follower the default.
        follower = subprocess.Popen([sys.executable, "-m", "aiaas", "jobs", "follow", job_id], env=env,
                                    text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        watchdog = threading.Timer(150, follower.kill)
        watchdog.start()
        try:
            assert follower.stderr is not None
            while "status running" not in follower.stderr.readline():
                assert follower.poll() is None, follower.communicate()
            follower.send_signal(signal.SIGINT)
            # Generous: a loaded CI machine once took over 30 s here (the split line was its
            # last output); a follower that never stops still fails, by the watchdog.
            _, stderr = follower.communicate(timeout=90)
        finally:
            watchdog.cancel()
        assert follower.returncode == 130
        assert f"aiaas jobs follow {job_id}" in stderr and f"aiaas jobs cancel {job_id}" in stderr
        assert sdk.get_job(job_id).status == "running"

    cancelled = run("jobs", "cancel", job_id)
    _ok(cancelled)
    assert "cancel requested" in cancelled.stdout
    followed = run("jobs", "follow", job_id, "--json")
    assert followed.returncode == 1 and json.loads(followed.stdout)["status"] == "cancelled"
    again = run("jobs", "cancel", job_id)
    assert again.returncode == 1 and "already cancelled" in again.stderr


def test_datasets_upload_show_train_delete(run: RunCli, tmp_path: Path) -> None:
    source = tmp_path / "visits.csv"
    test_rows = write_table(source, 60)
    uploaded = run("datasets", "upload", str(source), "--split-column", "part", "--json")
    _ok(uploaded)
    dataset = json.loads(uploaded.stdout)
    assert dataset["name"] == "visits" and dataset["rows"] == 60 and dataset["split_column"] == "part"

    listed = run("datasets", "list")
    _ok(listed)
    assert dataset["id"] in listed.stdout and "builtin:iris" in listed.stdout
    shown = run("datasets", "show", "visits")
    _ok(shown)
    assert "split column: part" in shown.stdout and "bad: 30, good: 30" in shown.stdout

    trained = run("train", "--task", "tabular-classification", "--dataset", "visits", "--name", "visits",
                  "--param", "algorithm=logistic", "--wait", "--json")
    _ok(trained)
    assert json.loads(trained.stdout)["result"]["split"]["test"] == test_rows

    deleted = run("datasets", "delete", "visits", "--yes")
    _ok(deleted)
    gone = run("datasets", "show", dataset["id"])
    assert gone.returncode == 1 and "not found" in gone.stderr


def test_a_broken_upload_names_the_line(run: RunCli, tmp_path: Path) -> None:
    source = tmp_path / "broken.csv"
    write_table(source, 20)
    lines = source.read_text().splitlines()
    source.write_text("\n".join([*lines[:5], "1,2,3,4,5", *lines[5:]]) + "\n")
    result = run("datasets", "upload", str(source))
    assert result.returncode == 1 and "line 6" in result.stderr and result.stdout == ""
