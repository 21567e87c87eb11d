"""A real ``aiaas serve`` process (the CLI command, with its connection bounds), for tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from aiaas.auth.principal import Principal
from aiaas.config import Settings
from aiaas.services import Services
from tests.conftest import LiveServer, free_port


def serve(data_dir: Path, *, admin: bool = True, **env_overrides: str) -> LiveServer:
    """``aiaas serve`` in a subprocess (the command that applies the connection bounds); with
    ``admin=False`` no key is made, so the data dir stays fresh (``admin_key`` is empty)."""
    port = free_port()
    env = {**os.environ, "AIAAS_DATA_DIR": str(data_dir), "AIAAS_PORT": str(port),
           "AIAAS_EMBEDDED_WORKER": "false", "AIAAS_BUILTIN_MODELS": "false",
           "AIAAS_LOG_JSON": "false", **env_overrides}
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir.parent / "server.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "aiaas", "serve"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(data_dir.parent / 'server.log').read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("server did not become ready in 120 s")
    if not admin:
        return LiveServer(url, data_dir, "", process, env)
    offline = Services.build(Settings(data_dir=data_dir))
    secret = offline.keys.create(Principal.system(), name="admin", tenant="default",
                                 admin=True).secret
    offline.db.dispose()
    return LiveServer(url, data_dir, secret, process, env)


def server_log(server: LiveServer) -> str:
    return (server.data_dir.parent / "server.log").read_text()
