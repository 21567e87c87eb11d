"""The API tier as a Ray Serve application: ``aiaas.api.ingress:app``.

For a cluster whose front door Serve should own (a KubeRay ``RayService``, see
``deploy/kuberay/rayservice.yaml``, or ``serve run aiaas.api.ingress:app``): Serve's HTTP
proxies take the requests, and each replica of the ``api`` deployment is one ``aiaas serve``
process: the same FastAPI app built by ``app_from_env``, its lifespan included (migrations, the
training worker's supervisor, the placement). Settings come from the environment, normally the
application's ``runtime_env.env_vars``; ``AIAAS_RAY_ADDRESS`` defaults to ``auto`` here, since a
replica is always inside its cluster, so model versions become Serve applications of their own
(deployed imperatively by this tier, which Serve keeps apart from the declarative one this
module is part of).

The deployment's defaults suit a front door: many requests in flight per replica (Serve's
default of 5 would queue callers at the proxy) and one CPU reserved. A RayService's config may
override any of them (``num_replicas``, ``ray_actor_options``, autoscaling).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ray import serve

if TYPE_CHECKING:
    from fastapi import FastAPI

API_DEPLOYMENT = "api"
MAX_ONGOING = 1024
"""Requests one API replica takes at once; the tier's own limits, batching and queues apply
inside it, as they do behind uvicorn."""


def build_api() -> FastAPI:
    """The app, built on the replica when it starts (never pickled across the cluster)."""
    from aiaas.api.app import app_from_env

    os.environ.setdefault("AIAAS_RAY_ADDRESS", "auto")
    return app_from_env()


@serve.deployment(name=API_DEPLOYMENT, max_ongoing_requests=MAX_ONGOING,
                  ray_actor_options={"num_cpus": 1})
@serve.ingress(build_api)
class ApiTier:
    """One ``aiaas serve`` process behind Serve's HTTP proxy."""


app = ApiTier.bind()  # type: ignore[attr-defined]  # serve.deployment makes it a Deployment
