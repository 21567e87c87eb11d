"""The API tier itself as a Ray Serve application (``aiaas.api.ingress:app``), declared the
way a KubeRay RayService declares it (Serve's declarative config), answering through Serve's
HTTP proxy; the model versions it deploys stay up when that config is applied again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from aiaas.auth.principal import Principal
from aiaas.config import Settings
from aiaas.services import Services
from tests.cluster.conftest import RayCluster, serve
from tests.conftest import LiveServer, fresh_postgres

API_APP = "aiaas-api-tier"
EMBEDDER = "all-minilm-l6-v2"
TEXTS = ["Hospitals keep patient data on site.", "The bus is late again."]
START_S = 300


def declare(ray_cluster: RayCluster, env: dict[str, str], replicas: int = 1) -> None:
    """What KubeRay does with a RayService's ``serveConfigV2``: apply it to Serve's
    controller as a declarative config."""
    from ray.serve.context import _get_global_client
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.model_validate({
        "proxy_location": "HeadOnly",
        "http_options": {"host": "127.0.0.1", "port": ray_cluster.proxy_port},
        "applications": [{"name": API_APP, "import_path": "aiaas.api.ingress:app",
                          "route_prefix": "/", "runtime_env": {"env_vars": env},
                          "deployments": [{"name": "api", "num_replicas": replicas}]}]})
    _get_global_client().deploy_apps(config)


def running(app: str) -> bool:
    status = serve.status().applications.get(app)
    assert status is None or status.status != "DEPLOY_FAILED", status.message
    return status is not None and status.status == "RUNNING"


def wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + START_S
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def api_tier(ray_cluster: RayCluster, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    """The API tier declared on the cluster with its own database and data dir (a second
    installation beside the package's server), and an admin key for it."""
    data_dir: Path = tmp_path_factory.mktemp("ingress") / "data"
    with fresh_postgres("aiaas_ingress") as database_url:
        env = {"AIAAS_DATA_DIR": str(data_dir), "AIAAS_DATABASE_URL": database_url,
               "AIAAS_EMBEDDED_WORKER": "false", "AIAAS_LOG_LEVEL": "warning"}
        declare(ray_cluster, env)
        try:
            wait_for(lambda: running(API_APP), "the API tier's replica")
            offline = Services.build(Settings(data_dir=data_dir, database_url=database_url))
            key = offline.keys.create(Principal.system(), name="admin", tenant="default",
                                      admin=True).secret
            offline.db.dispose()
            with httpx.Client(base_url=f"http://127.0.0.1:{ray_cluster.proxy_port}",
                              headers={"Authorization": f"Bearer {key}"},
                              timeout=START_S) as client:
                yield client, env
        finally:
            apps = [name for name in serve.status().applications
                    if name == API_APP or name.startswith(installation_prefix(database_url))]
            from ray.serve.context import _get_global_client

            _get_global_client().delete_apps(apps, blocking=True)


def installation_prefix(database_url: str) -> str:
    from aiaas.cluster.deploy import installation_prefix as prefix

    return prefix(Settings(database_url=database_url))


def api_replicas() -> int:
    status = serve.status().applications[API_APP].deployments["api"]
    return int(status.replica_states.get("RUNNING", 0))


def embed(client: httpx.Client) -> np.ndarray:
    response = client.post(f"/api/v1/models/{EMBEDDER}/predict", json={"inputs": TEXTS})
    assert response.status_code == 200, response.text
    return np.array([output["embedding"] for output in response.json()["outputs"]])


def test_the_api_tier_answers_through_serves_proxy_with_the_local_paths_outputs(
        api_tier: tuple[httpx.Client, dict[str, str]], live_server: LiveServer) -> None:
    client, _ = api_tier
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/v1/models").status_code == 200
    assert httpx.get(client.base_url.join("/api/v1/models")).status_code == 401, "keys apply"
    with live_server.client() as local:
        near = np.array([o["embedding"] for o in local.post(
            f"/api/v1/models/{EMBEDDER}/predict", json={"inputs": TEXTS}).json()["outputs"]])
    np.testing.assert_allclose(embed(client), near, atol=1e-5)
    cluster = client.get("/api/v1/runtime").json()["cluster"]
    [deployment] = [d for d in cluster["deployments"] if d["app"].endswith(f"{EMBEDDER}-v1")]
    assert deployment["status"] == "RUNNING"


def test_applying_the_config_again_keeps_the_model_deployments(
        api_tier: tuple[httpx.Client, dict[str, str]], ray_cluster: RayCluster) -> None:
    client, env = api_tier
    embed(client)
    [model_app] = [d["app"] for d in client.get("/api/v1/runtime").json()["cluster"]["deployments"]
                   if d["app"].endswith(f"{EMBEDDER}-v1")]
    declare(ray_cluster, env, replicas=2)
    wait_for(lambda: running(API_APP) and api_replicas() == 2, "a second API replica")
    assert running(model_app), "a declarative update leaves imperatively deployed versions alone"
    started = time.perf_counter()
    embed(client)
    assert time.perf_counter() - started < 10, "no cold start: the model's replica was kept"
