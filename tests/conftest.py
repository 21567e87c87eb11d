"""Shared fixtures: settings on a temp data dir, databases (SQLite and the real PostgreSQL),
an in-process app over ASGI (also with its embedded training worker as a real separate process,
fast heartbeat), and a real server in a subprocess over real HTTP."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from aiaas.api.app import create_app
from aiaas.auth.principal import Principal
from aiaas.config import Settings
from aiaas.services import Services

PG_HOST = "127.0.0.1"
PG_PORT = 5432

# One ONNX export of each built-in per test run, shared by every data dir and server process
# (entries are keyed by artifact digest, exactly as in a data dir). Under pytest-xdist the
# controller sets these up before it starts its workers, which inherit them.
os.environ.setdefault("AIAAS_COMPILE_DIR", str(Path(os.environ.get("TMPDIR", "/tmp"))
                                                / f"aiaas-test-compiled-{os.getpid()}"))

# pytest-xdist's workers run with COLUMNS=80 (execnet's), which the CLI would squeeze its tables
# into: the CLI tests expect what a pipe gets.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)

# One master key per test session (encryption at rest is on by default), never the user's own.
_MASTER_KEY = Path(os.environ.get("TMPDIR", "/tmp")) / f"aiaas-test-master-{os.getpid()}.json"
if "AIAAS_MASTER_KEY_FILE" not in os.environ:
    from aiaas.crypto.master import MasterKey

    _MASTER_KEY.unlink(missing_ok=True)
    MasterKey.generate(_MASTER_KEY)
    os.environ["AIAAS_MASTER_KEY_FILE"] = str(_MASTER_KEY)


WHOLE_PACKAGES = ("tests/cluster/", "tests/runtime/generation/", "tests/api/console/")
"""Packages whose fixtures are package-scoped (a Ray cluster, the generation engines, a browser):
under pytest-xdist each runs on one worker."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``make test``: ``-n 2 --dist loadgroup``) a module's tests share a
    worker, so its module fixtures (a server, a trained model) are built once; so do the tests
    of each of ``WHOLE_PACKAGES``."""
    for item in items:
        path = item.nodeid.split("::")[0]
        group = next((package for package in WHOLE_PACKAGES if path.startswith(package)), path)
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The run's compile cache and master key go when the run ends: with pytest-xdist, when the
    controller ends (after every worker), not when the first worker does."""
    if hasattr(config, "workerinput"):
        return
    shutil.rmtree(os.environ["AIAAS_COMPILE_DIR"], ignore_errors=True)
    _MASTER_KEY.unlink(missing_ok=True)


def _postgres_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres",
                             connect_timeout=2):
            return None
    except Exception as exc:
        return f"PostgreSQL on {PG_HOST}:{PG_PORT} does not answer: {exc}"


POSTGRES_SKIP = _postgres_reason()


@contextlib.contextmanager
def fresh_postgres(prefix: str = "aiaas_test") -> Iterator[str]:
    """A fresh, empty database on the real PostgreSQL server (its URL), dropped afterwards;
    skips the test when the server does not answer."""
    if POSTGRES_SKIP:
        pytest.skip(POSTGRES_SKIP)
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty database on the real PostgreSQL server, dropped afterwards."""
    with fresh_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes this runs twice: SQLite, then the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'aiaas.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # gc_freeze is process-wide: servers in subprocesses keep the default, tests in this process
    # leave the collector alone.
    return Settings(data_dir=tmp_path / "data", database_url=database_url, builtin_models=False,
                    embedded_worker=False, log_json=False, gc_freeze=False)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    built = Services.build(settings)
    yield built
    built.db.dispose()


@dataclass
class Api:
    """An in-process app: an httpx client plus the services behind it and an admin key."""

    client: httpx.AsyncClient
    services: Services
    admin_key: str

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    def new_key(self, tenant: str = "default", **kwargs: Any) -> str:
        return self.services.keys.create(Principal.system(), name="test", tenant=tenant, **kwargs).secret


@pytest.fixture
async def api(services: Services) -> AsyncIterator[Api]:
    app = create_app(services.settings, services)
    admin = services.keys.create(Principal.system(), name="admin", tenant="default", admin=True).secret
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://aiaas.test") as client:
            yield Api(client, services, admin)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A Redis of the test's own on a free port (never the shared one): tests may stop or
    flush it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no",
                                "--bind", "127.0.0.1", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "redis did not start"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", process
    process.kill()
    process.wait()


@dataclass
class LiveServer:
    url: str
    data_dir: Path
    admin_key: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    def client(self, key: str | None = None, *, timeout: float = 60) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout,
                            headers={"Authorization": f"Bearer {key or self.admin_key}"})

    def create_key(self, tenant: str = "default", *extra: str) -> str:
        """Make a key with the real CLI, offline, on the server's data dir."""
        out = subprocess.run(
            [sys.executable, "-m", "aiaas", "keys", "create", "--name", "t", "--tenant", tenant,
             *extra], env=self.env, capture_output=True, text=True, check=True, timeout=120,
        )
        return out.stdout.strip().splitlines()[-1]


def start_server(data_dir: Path, **env_overrides: str) -> LiveServer:
    port = free_port()
    env = {**os.environ, "AIAAS_DATA_DIR": str(data_dir), "AIAAS_PORT": str(port),
           "AIAAS_HOST": "127.0.0.1", "AIAAS_EMBEDDED_WORKER": "false", **env_overrides}
    with (data_dir.parent / f"server-{port}.log").open("wb") as log:  # the child keeps its copy
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "aiaas.api.app:app_from_env",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {(data_dir.parent / f'server-{port}.log').read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        process.kill()
        process.wait()
        raise RuntimeError("server did not become ready in 120 s")
    from aiaas.config import Settings as _Settings
    from aiaas.services import Services as _Services

    named = {"database_url": "AIAAS_DATABASE_URL", "master_key_file": "AIAAS_MASTER_KEY_FILE",
             "encrypt_at_rest": "AIAAS_ENCRYPT_AT_REST"}
    offline = _Services.build(_Settings(data_dir=data_dir, **{
        option: env_overrides[variable] for option, variable in named.items()
        if variable in env_overrides}))
    admin = offline.keys.create(Principal.system(), name="admin", tenant="default", admin=True).secret
    offline.db.dispose()
    return LiveServer(url, data_dir, admin, process, env)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="session")
def pii_model() -> Path:
    """The PII name model, built once per installation (``make install`` builds it up front)
    where servers look for it by default."""
    from aiaas.privacy import ner_model
    from aiaas.privacy.service import default_model_root

    return ner_model.ensure(default_model_root())


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server with the built-in models, on SQLite, shared by the integration tests."""
    server = start_server(tmp_path_factory.mktemp("live") / "data")
    yield server
    stop_server(server)


HEARTBEAT_S = 0.5


@pytest.fixture
async def train_api(tmp_path: Path) -> AsyncIterator[Api]:
    import httpx

    settings = Settings(data_dir=tmp_path / "data", builtin_models=False, log_json=False,
                        embedded_worker=True, job_heartbeat_s=HEARTBEAT_S)
    services = Services.build(settings)
    app = create_app(settings, services)
    admin = services.keys.create(Principal.system(), name="admin", tenant="default", admin=True).secret
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60) as manager:
        assert services.worker_process is not None and services.worker_process.poll() is None
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://aiaas.test",
                                     timeout=120) as client:
            yield Api(client, services, admin)
    assert services.worker_process is None
