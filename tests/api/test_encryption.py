"""Encryption at rest against a real server over HTTP, on a real data dir: after a dataset and a
trained model that carry a canary, no file under the data dir holds the canary or the model's
weight bytes in clear; the server restarts and serves them; a flipped byte is refused with a
clear error; the wrong master key stops the start; tenant rotation (killed with SIGKILL half-way,
then rerun) and master rotation keep everything readable; a plain data dir is migrated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiaas.builtin import EMBEDDER, ensure_builtins
from aiaas.config import Settings
from aiaas.crypto.master import MasterKey
from aiaas.crypto.sealed import MAGIC
from aiaas.training import wiring
from tests.conftest import LiveServer, start_server, stop_server

CANARY = "qz-canary-4d1e9b7c"
ROWS = "".join(f"patient note {i} {CANARY} {'fever cough' if i % 2 else 'broken arm'},"
               f"{'respiratory' if i % 2 else 'injury'}\n" for i in range(40))
CSV = ("text,label\n" + ROWS).encode()


def aiaas(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "aiaas", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def holders(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in files_under(root) if needle in p.read_bytes()]


def seeded_data_dir(data: Path, **options: Any) -> None:
    """The built-in embedder registered (the text trainer's base), with no other built-in."""
    settings = Settings(data_dir=data, builtin_models=False, **options)
    core = wiring.build(settings)
    ensure_builtins(core.registry, only=[EMBEDDER])
    core.db.dispose()


def train(client: httpx.Client) -> dict[str, Any]:
    upload = client.post("/api/v1/datasets", data={"name": "notes"},
                         files={"file": ("notes.csv", CSV, "text/csv")})
    assert upload.status_code == 201, upload.text
    job = client.post("/api/v1/jobs", json={"task": "text-classification", "dataset": "notes",
                                            "name": "triage", "params": {"seed": 1}})
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        shown = client.get(f"/api/v1/jobs/{job.json()['id']}").json()
        if shown["status"] in ("succeeded", "failed", "cancelled"):
            assert shown["status"] == "succeeded", shown
            return shown
        time.sleep(0.1)
    raise AssertionError("the job did not finish in 240 s")


def predict(client: httpx.Client) -> httpx.Response:
    return client.post("/api/v1/models/triage/predict", json={"inputs": ["cough and fever"]})


def weight_sample(data: Path) -> bytes:
    """64 bytes from the middle of the trained head's weights (the tenant's own; the base
    encoder linked beside them is the public built-in), read through the vault."""
    core = wiring.build(Settings(data_dir=data, builtin_models=False))
    try:
        from aiaas.auth.principal import Principal

        version = core.registry.get_version(Principal.system("default"), "triage")
        weights = (core.registry.artifact_path(version) / "classifier_head.safetensors"
                   ).read_bytes()
        return weights[len(weights) // 2:len(weights) // 2 + 64]
    finally:
        core.db.dispose()


@pytest.fixture
def served(tmp_path: Path) -> Any:
    data = tmp_path / "data"
    seeded_data_dir(data)
    servers: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        server = start_server(data, AIAAS_BUILTIN_MODELS="false", **env)
        servers.append(server)
        return server

    yield data, start
    for server in servers:
        if server.process.poll() is None:
            stop_server(server)


def test_a_sealed_data_dir_hides_data_and_weights_and_survives_restarts_and_rotation(
        served: Any, tmp_path: Path) -> None:
    data, start = served
    server = start(AIAAS_EMBEDDED_WORKER="true")
    with server.client() as client:
        job = train(client)
        assert predict(client).status_code == 200
        plot = client.get(f"/api/v1/jobs/{job['id']}/plots/confusion_matrix.png")
        assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    stop_server(server)

    assert holders(data, CANARY.encode()) == []
    assert holders(data, weight_sample(data)) == []
    sealed = [p for p in files_under(data / "datasets") if p.read_bytes().startswith(MAGIC)]
    assert sealed, "the dataset is stored sealed"
    workspace = Path("/dev/shm") / f"aiaas-{os.getuid()}"
    assert not any(workspace.glob(f"{server.process.pid}-*/tree-*")), "working copies removed"

    server = start()  # a restart serves what was sealed
    with server.client() as client:
        assert predict(client).status_code == 200
        assert client.get("/api/v1/datasets/notes").json()["rows"] == 40
    stop_server(server)

    env = {**server.env}
    # A tenant rotation killed half-way (SIGKILL inside a re-seal), then run again.
    killer = ("import os, aiaas.crypto.sealed as s\n"
              "real = s.Sealer.reseal\ncount = [0]\n"
              "def reseal(self, path):\n"
              "    count[0] += 1\n"
              "    if count[0] == 2: os.kill(os.getpid(), 9)\n"
              "    return real(self, path)\n"
              "s.Sealer.reseal = reseal\n"
              "from aiaas.cli.main import app\napp(['crypto', 'rotate-tenant', 'default'])\n")
    killed = subprocess.run([sys.executable, "-c", killer], env=env, capture_output=True,
                            timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "rotation unfinished" in aiaas("crypto", "status", env=env).stdout
    rotated = aiaas("crypto", "rotate-tenant", "default", env=env)
    assert "new data key" in rotated.stdout
    assert "rotation unfinished" not in aiaas("crypto", "status", env=env).stdout

    # Master rotation: re-wrap under a new key, then the old key no longer starts the server.
    new_key = tmp_path / "new-master.json"
    aiaas("crypto", "rotate-master", "--new-key-file", str(new_key), "--generate", env=env)
    with pytest.raises(RuntimeError, match="did not wrap the data keys"):
        start()
    server = start(AIAAS_MASTER_KEY_FILE=str(new_key))
    with server.client() as client:
        assert predict(client).status_code == 200
        assert client.get(f"/api/v1/jobs/{job['id']}/plots/confusion_matrix.png").status_code == 200
    stop_server(server)

    # A wrong key refuses to start, and says why, through `aiaas serve` too.
    stranger = tmp_path / "stranger.json"
    MasterKey.generate(stranger)
    refused = aiaas("serve", "--data-dir", str(data), env={**env, "AIAAS_MASTER_KEY_FILE":
                                                           str(stranger)}, check=False)
    assert refused.returncode != 0 and "did not wrap the data keys" in refused.stderr

    # A flipped byte in the stored model is refused with a clear error, never served.
    env["AIAAS_MASTER_KEY_FILE"] = str(new_key)
    artifact = max((p for p in files_under(data / "artifacts")
                    if p.read_bytes().startswith(MAGIC)), key=lambda p: p.stat().st_size)
    artifact.parent.chmod(0o755)
    artifact.chmod(0o644)
    raw = bytearray(artifact.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    artifact.write_bytes(bytes(raw))
    server = start(AIAAS_MASTER_KEY_FILE=str(new_key))
    with server.client() as client:
        refused_call = predict(client)
    assert refused_call.status_code >= 500
    assert refused_call.json()["error"]["code"] == "integrity_check_failed"
    assert "modified or truncated" in refused_call.json()["error"]["message"]


def test_a_plain_data_dir_is_migrated_in_place(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seeded_data_dir(data, encrypt_at_rest=False)
    server = start_server(data, AIAAS_BUILTIN_MODELS="false", AIAAS_EMBEDDED_WORKER="true",
                          AIAAS_ENCRYPT_AT_REST="false")
    try:
        with server.client() as client:
            train(client)
    finally:
        stop_server(server)
    assert holders(data, CANARY.encode()), "written plain before the migration"

    killer = ("import os, aiaas.crypto.sealed as s\n"
              "real = s.Sealer.seal_file\ncount = [0]\n"
              "def seal_file(self, *args, **kwargs):\n"
              "    count[0] += 1\n"
              "    if count[0] == 2: os.kill(os.getpid(), 9)\n"
              "    return real(self, *args, **kwargs)\n"
              "s.Sealer.seal_file = seal_file\n"
              "from aiaas.cli.main import app\napp(['crypto', 'migrate'])\n")
    env = {**server.env, "AIAAS_ENCRYPT_AT_REST": "true"}
    killed = subprocess.run([sys.executable, "-c", killer], env=env, capture_output=True,
                            timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "sealed" in aiaas("crypto", "migrate", env=env).stdout
    assert holders(data, CANARY.encode()) == []
    server = start_server(data, AIAAS_BUILTIN_MODELS="false")
    try:
        with server.client() as client:
            assert predict(client).status_code == 200
            assert client.get("/api/v1/datasets/notes").json()["rows"] == 40
    finally:
        stop_server(server)
