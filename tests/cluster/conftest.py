"""A real two-node Ray cluster on this machine (a head and a worker, each with its own logical
CPUs) and an aiaas server that runs its models there, on the real PostgreSQL and Redis.

The cluster and the server are shared by the package's tests: starting Ray and Serve takes
tens of seconds on two cores. Tests that kill replicas or nodes leave the cluster as they found
it (Ray replaces the replica; a killed worker node is added back).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, free_port, fresh_postgres, start_server, stop_server

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'aiaas[ray]')")

from ray.cluster_utils import Cluster  # noqa: E402

with warnings.catch_warnings():
    # Ray Serve's own pydantic models use keywords pydantic 2 deprecates (at import only).
    warnings.simplefilter("ignore", DeprecationWarning)
    from ray import serve

NODE_CPUS = 4
"""Logical CPUs per node (Ray schedules on these, the machine has two cores): room for a replica
of every built-in model, two of the embedder, and a GPU-less resource check."""


@dataclass
class RayCluster:
    cluster: Cluster
    worker: Any
    proxy_port: int
    """Serve's HTTP proxy on the head: unused by the API-tier server (it calls replicas
    through handles), the front door when the API tier itself runs as a Serve application."""

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    def replace_worker(self) -> None:
        """Kill the worker node (its raylet and every process on it), then add a new one."""
        self.cluster.remove_node(self.worker, allow_graceful=False)
        self.worker = self.cluster.add_node(num_cpus=NODE_CPUS, resources={"worker": NODE_CPUS})


@pytest.fixture(scope="package")
def ray_cluster() -> Iterator[RayCluster]:
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": NODE_CPUS, "include_dashboard": False, "resources": {"head": NODE_CPUS}})
    worker = cluster.add_node(num_cpus=NODE_CPUS, resources={"worker": NODE_CPUS})
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="aiaas-tests", log_to_driver=False)
    port = free_port()
    serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
    yield RayCluster(cluster, worker, port)
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="package")
def cluster_db() -> Iterator[str]:
    """One PostgreSQL database for the package's server and every replica."""
    with fresh_postgres("aiaas_ray") as url:
        yield url


@pytest.fixture(scope="package")
def ray_server(ray_cluster: RayCluster, cluster_db: str,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """aiaas as the API tier of the cluster: its models run as Ray Serve deployments, its
    training jobs as Ray tasks (from the embedded worker)."""
    data_dir: Path = tmp_path_factory.mktemp("ray") / "data"
    server = start_server(data_dir, AIAAS_RAY_ADDRESS=ray_cluster.address,
                          AIAAS_EMBEDDED_WORKER="true", AIAAS_DATABASE_URL=cluster_db,
                          AIAAS_RAY_DEPLOY_TIMEOUT_S="300", AIAAS_RAY_INFEASIBLE_AFTER_S="3",
                          AIAAS_REDIS_URL="redis://127.0.0.1:6379/0",
                          AIAAS_REDIS_KEY_PREFIX=f"aiaas-ray-{uuid.uuid4().hex[:8]}")
    yield server
    stop_server(server)
