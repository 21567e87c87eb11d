"""Ray and Ray Serve calls, in one module: connecting, deploying a version, removing it, and
reading back where its replicas run.

These block (Ray's client API is synchronous); ``RayReplicas`` runs them off the event loop.
A deployment that cannot start is told apart by its cause, since "config or code?" is the first
thing an operator needs to know: resources no node of the cluster has (``Invalid`` naming the
``resources`` asked for, 422) versus a model that failed to load on its node (``Unavailable``
with the replica's own error, 503) or took longer than ``AIAAS_RAY_DEPLOY_TIMEOUT_S``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, cast

import ray
from ray import serve

from aiaas.cluster.server import ModelServer, replica_settings
from aiaas.config import Settings
from aiaas.errors import Invalid, Unavailable
from aiaas.registry.records import VersionInfo
from aiaas.registry.serving import Resources, ServingOptions

if TYPE_CHECKING:
    from ray.serve.deployment import Deployment
    from ray.serve.handle import DeploymentHandle

log = logging.getLogger("aiaas.cluster")
DEPLOYMENT = "ModelServer"
NAMESPACE = "aiaas"
UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_connected = threading.Lock()
_deploying = threading.Lock()


def connect(settings: Settings, *, serving: bool = True) -> None:
    """Join the cluster at ``settings.ray_address`` as a driver and (``serving``) start Serve
    there without its HTTP proxy (calls come through this server, never straight to Ray)."""
    with _connected:
        if not ray.is_initialized():
            # ray.init replaces SIGTERM's handler with an immediate exit; the server's own
            # graceful shutdown (finish requests, end streams cleanly) must keep it.
            sigterm = signal.getsignal(signal.SIGTERM)
            ray.init(address=settings.ray_address, namespace=NAMESPACE, log_to_driver=False,
                     logging_level=logging.WARNING, configure_logging=False)
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, sigterm)
        if serving:
            serve.start(proxy_location="Disabled")


def app_name(settings: Settings, key: tuple[str, str, int]) -> str:
    """The Serve application of one version, unique per installation (two installations with
    their own databases may share a cluster)."""
    tenant, model, version = key
    return f"{installation_prefix(settings)}{UNSAFE.sub('_', tenant)}-{UNSAFE.sub('_', model)}-v{version}"


def installation_prefix(settings: Settings) -> str:
    """What the names of this installation's Serve applications start with (its database)."""
    return f"aiaas-{hashlib.sha256(settings.sqlalchemy_url.encode()).hexdigest()[:6]}-"


def deployment_options(settings: Settings, options: ServingOptions) -> dict[str, Any]:
    """Ray Serve options from the version's serving options (replicas or autoscaling,
    resources) and the server's batching and queue settings."""
    resources = options.resources or Resources()
    actor: dict[str, Any] = {"num_cpus": resources.cpus, "num_gpus": resources.gpus}
    if resources.memory_mb is not None:
        actor["memory"] = resources.memory_mb * 2**20
    if resources.custom:
        actor["resources"] = dict(resources.custom)
    scale: dict[str, Any]
    if options.autoscaling is not None:
        scale = {"autoscaling_config": options.autoscaling.model_dump()}
    else:
        scale = {"num_replicas": options.replicas or 1}
    return {"name": DEPLOYMENT, "ray_actor_options": actor,
            "max_ongoing_requests": options.max_batch_size or settings.max_batch_size,
            "max_queued_requests": settings.max_queue, "health_check_period_s": 5.0,
            "health_check_timeout_s": 30.0,
            "graceful_shutdown_timeout_s": settings.shutdown_grace_s,
            "logging_config": {"enable_access_log": False, "log_level": "WARNING"}, **scale}


def ensure(settings: Settings, version: VersionInfo, app: str) -> DeploymentHandle[Any]:
    """A handle on the version's deployment, deploying it first when the cluster has none
    running (or its last deploy failed); waits until it can take calls."""
    with _deploying:
        current = serve.status().applications.get(app)
        if current is None or current.status in ("DEPLOY_FAILED", "UNHEALTHY", "DELETING"):
            _check_feasible(settings, version)
            _deploy(settings, version, app)
        try:
            _wait_running(settings, app, version)
        except (Invalid, Unavailable):
            remove(app)
            raise
    return serve.get_deployment_handle(DEPLOYMENT, app)


def update(settings: Settings, version: VersionInfo, app: str) -> None:
    """Apply the version's changed serving options to its deployment in place, if the cluster
    runs one (else the next call deploys it): Serve scales a change of replicas or autoscaling
    without touching a running replica, and rolls any other change over the replicas one by
    one, so calls keep being served. ``Invalid`` (and nothing changed) when no node could hold
    a replica with the new resources."""
    with _deploying:
        current = serve.status().applications.get(app)
        if current is None or current.status == "DELETING":
            return
        _check_feasible(settings, version)
        _deploy(settings, version, app)


def code_version(version: VersionInfo) -> str:
    """What a replica is built from, apart from how many there are: the version and every
    serving option but ``replicas`` and ``autoscaling``. Serve restarts replicas only when this
    changes."""
    options = ServingOptions.of(version.serving).model_dump(
        exclude={"replicas", "autoscaling"}, exclude_defaults=True, mode="json")
    digest = hashlib.sha256(json.dumps([version.ref, version.sha256, options],
                                       sort_keys=True).encode()).hexdigest()
    return digest[:16]


def _deploy(settings: Settings, version: VersionInfo, app: str) -> None:
    options = ServingOptions.of(version.serving)
    cpus = (options.resources or Resources()).cpus
    deployment = cast("Deployment", serve.deployment(ModelServer,
                                                     **deployment_options(settings, options)))
    # Serve stamps an imperatively deployed class with a random version (so every redeploy
    # restarts every replica) unless it is given one; `_internal` is how its own builder does.
    deployment = deployment.options(version=code_version(version), _internal=True)
    target = serve.RunTarget(target=deployment.bind(replica_settings(settings, cpus), version),
                             name=app, route_prefix=None)
    serve.run_many([target], wait_for_ingress_deployment_creation=False,
                   wait_for_applications_running=False)
    log.info("deploying %s:%s as %s", version.model, version.version, app)


def _wait_running(settings: Settings, app: str, version: VersionInfo) -> None:
    label = f"{version.model}:{version.version}"
    started = time.monotonic()
    while True:
        status = serve.status().applications.get(app)
        state = status.status if status is not None else "NOT_STARTED"
        if state == "RUNNING" or (state == "DEPLOYING" and _running_replicas(app)):
            return
        message = _message(status)
        if state == "DEPLOY_FAILED":
            raise Unavailable(f"the cluster could not start {label}: {message}",
                              retry_after_s=30)
        if time.monotonic() - started > settings.ray_deploy_timeout_s:
            raise Unavailable(f"{label} did not start on the cluster within "
                              f"{settings.ray_deploy_timeout_s:g} s ({state}): {message}",
                              retry_after_s=30)
        time.sleep(0.5)


def _check_feasible(settings: Settings, version: VersionInfo) -> None:
    """``Invalid`` naming ``resources`` when no live node could ever hold one replica (a node
    that is joining, or that an autoscaler adds, gets ``AIAAS_RAY_INFEASIBLE_AFTER_S``): a
    config error, told at once, rather
    than calls queued for a replica that never starts (with ``min_replicas`` 0 the deployment
    itself is "running" without one)."""
    wanted = _wanted(version)
    custom = [name for name in wanted if name not in ("CPU", "GPU", "memory")]
    deadline = time.monotonic() + settings.ray_infeasible_after_s
    while True:
        nodes = _alive_nodes()
        if any(_fits(wanted, node) for node in nodes):
            return
        if time.monotonic() > deadline:
            raise Invalid(f"no node of the cluster has the resources one replica of "
                          f"{version.model}:{version.version} asks for "
                          f"({_spell(wanted, custom)}; largest node: "
                          f"{_spell(_largest(nodes), custom)}): change serving.resources",
                          field="resources")
        time.sleep(1.0)


def _wanted(version: VersionInfo) -> dict[str, float]:
    resources = ServingOptions.of(version.serving).resources or Resources()
    wanted = {"CPU": resources.cpus, "GPU": resources.gpus}
    if resources.memory_mb is not None:
        wanted["memory"] = resources.memory_mb * 2**20
    wanted.update(resources.custom)
    return {name: amount for name, amount in wanted.items() if amount}


def _alive_nodes() -> list[dict[str, float]]:

    return [node["Resources"] for node in _nodes() if node["Alive"]]


def _nodes() -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    return nodes


def _fits(wanted: dict[str, float], node: dict[str, float]) -> bool:
    return all(node.get(name, 0) >= amount for name, amount in wanted.items())


def _largest(nodes: list[dict[str, float]]) -> dict[str, float]:
    return max(nodes, key=lambda node: (node.get("GPU", 0), node.get("CPU", 0)), default={})


def _spell(resources: dict[str, float], custom: list[str]) -> str:
    parts = [f"CPU {resources.get('CPU', 0):g}", f"GPU {resources.get('GPU', 0):g}"]
    if "memory" in resources:
        parts.append(f"memory {resources['memory'] / 2**20:g} MiB")
    parts += [f"{name} {resources.get(name, 0):g}" for name in custom]
    return ", ".join(parts)


def _running_replicas(app: str) -> int:
    """Replicas already taking calls while the rest still start (or wait for a node): the
    deployment serves as soon as one runs."""
    deployment = _serve_details().get("applications", {}).get(app, {}).get(
        "deployments", {}).get(DEPLOYMENT, {})
    return sum(replica.get("state") == "RUNNING" for replica in deployment.get("replicas", []))


def _message(status: Any) -> str:
    if status is None:
        return ""
    parts = [status.message] + [d.message for d in status.deployments.values()]
    return " ".join(part.strip() for part in parts if part).strip()[:2000]


def remove(app: str) -> None:
    serve.delete(app, _blocking=True)
    log.info("removed %s from the cluster", app)


async def describe(settings: Settings) -> dict[str, Any]:
    """The cluster for ``GET /api/v1/runtime``: its nodes, and per deployment of this
    installation its status and each replica's node, state and calls served."""
    import asyncio

    prefix = installation_prefix(settings)
    details = await asyncio.to_thread(_serve_details)
    nodes = [{"node": node["NodeID"], "alive": node["Alive"], "address": node["NodeManagerAddress"],
              "cpus": node["Resources"].get("CPU", 0), "gpus": node["Resources"].get("GPU", 0)}
             for node in await asyncio.to_thread(_nodes)]
    deployments = []
    for name, app in details.get("applications", {}).items():
        if not name.startswith(prefix):
            continue
        deployment = app.get("deployments", {}).get(DEPLOYMENT, {})
        replicas = {r["replica_id"]: {"replica": r["replica_id"], "node": r.get("node_id"),
                                      "state": r.get("state"), "pid": r.get("pid")}
                    for r in deployment.get("replicas", [])}
        if any(replica["state"] == "RUNNING" for replica in replicas.values()):
            try:
                answers = await serve.get_deployment_handle(DEPLOYMENT, name).broadcast(
                    "describe").results_async(return_exceptions=True)
            except Exception as exc:  # the deployment changed under the call: states only
                log.info("replicas of %s did not describe themselves: %r", name, exc)
                answers = []
            for answer in answers:
                if isinstance(answer, dict) and answer.get("replica") in replicas:
                    replicas[answer["replica"]].update(answer)
        deployments.append({"app": name, "status": app.get("status"),
                            "message": app.get("message", ""),
                            "target_replicas": deployment.get("target_num_replicas"),
                            "replicas": list(replicas.values())})
    return {"address": settings.ray_address, "nodes": nodes, "deployments": deployments}


def _serve_details() -> dict[str, Any]:
    from ray.serve.context import _get_global_client

    client = _get_global_client()
    if client is None:
        raise Unavailable("Serve is not running on the cluster", retry_after_s=5)
    details: dict[str, Any] = client.get_serve_details()
    return details
