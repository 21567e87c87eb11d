"""The API tier's side of the cluster: ``RayReplicas`` (a ``ReplicaFactory``) and ``RayReplica``.

Each served version is one Ray Serve application (``deploy.app_name``) holding one deployment
of ``ModelServer``. Several API processes may share it: ``start`` deploys only when the cluster
has no running application of that name, so a second process just takes a handle. The handle
spreads calls over the replicas; Ray Serve queues them while a scaled-to-zero deployment starts.
Batch calls go through a ``Batcher`` here first (``_RemoteBatches``): concurrent calls leave as
one Ray call per batch, so Ray's per-call cost is paid per batch, not per request.

A replica that dies takes its in-flight calls with it. A batch call is safe to send again (no
model call changes anything), so it is retried once on another replica; a generation is retried
only if it had sent nothing yet. When the retry fails too, or no replica is reachable, the call
is answered ``Unavailable`` (503 with Retry-After), never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aiaas.cluster import deploy
from aiaas.config import Settings
from aiaas.errors import AiaasError, Overloaded, Unavailable
from aiaas.registry.records import VersionInfo
from aiaas.registry.serving import ServingOptions
from aiaas.runtime.backends.base import Backend
from aiaas.runtime.batcher import Batcher
from aiaas.tasks.base import Prediction, StreamEvent
from aiaas.tasks.outputs import Explanation

if TYPE_CHECKING:
    from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

log = logging.getLogger("aiaas.cluster")
RETRY_AFTER_S = 2
REMOTE_LANES = 64
"""The most batches of one version in flight from one API process: two per replica (one
running, one on its way) up to this many replicas' worth of threads."""
T = TypeVar("T")


def _translate(exc: BaseException) -> BaseException | None:
    """A domain error for what Ray raised: the replica's own ``AiaasError`` unwrapped, 429 for
    Serve's backpressure, 503 for a replica or deployment that is gone (``None``: not Ray's)."""
    import ray.exceptions as ray_errors
    from ray.serve import exceptions as serve_errors

    if isinstance(exc, ray_errors.RayTaskError):
        cause = exc.cause
        if isinstance(cause, AiaasError):
            return cause
        return _translate(cause) if isinstance(cause, BaseException) else None
    if isinstance(exc, serve_errors.BackPressureError):
        return Overloaded(f"the model's replicas are full ({exc.message}); retry",
                          retry_after_s=RETRY_AFTER_S)
    if isinstance(exc, (ray_errors.RayActorError, serve_errors.ReplicaUnavailableError,
                        serve_errors.DeploymentUnavailableError)):
        return Unavailable(f"the model's replica is gone ({type(exc).__name__}); retry",
                           retry_after_s=RETRY_AFTER_S)
    return None


def _retryable(error: BaseException | None) -> bool:
    return isinstance(error, Unavailable)


class _RemoteBatches(Backend):
    """The cluster as the backend of a batcher in the API tier: calls to one version that arrive
    together leave as one Ray call per batch, not one each (Ray's per-call cost, paid in this
    process and on the replica, is what made the hop expensive). ``lanes`` batches are in
    flight at once, enough to keep every replica busy; while all are out, calls queue and the
    next batch grows. Runs on the batcher's worker threads, so it may block."""

    def __init__(self, replica: RayReplica, lanes: int) -> None:
        super().__init__(Path("."), {})
        self._replica = replica
        self._lanes = lanes
        self.label = replica.app

    def load(self) -> None:
        return None

    @property
    def lanes(self) -> int:
        return self._lanes

    def memory_bytes(self) -> int:
        return 0

    def predict_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        return self._replica.send_batch(items, parameters)


class RayReplica:
    """This process's handle on a version's deployment: the ``Replica`` the front door sees."""

    memory_bytes = 0

    def __init__(self, version: VersionInfo, handle: DeploymentHandle[Any], app: str,
                 factory: RayReplicas) -> None:
        self.version = version
        self.app = app
        self._handle = handle
        self._stream_handle = handle.options(stream=True)
        self._factory = factory
        self.in_flight = 0
        self.retried = 0
        self.last_used = time.monotonic()
        settings, options = factory.settings, ServingOptions.of(version.serving)
        # No call waits longer: a replica may first have to start (a deployment scaled to
        # zero, or one whose replicas all died), then answer.
        self.deadline_s = settings.ray_deploy_timeout_s + settings.request_timeout_s
        most = options.autoscaling.max_replicas if options.autoscaling else options.replicas or 1
        lanes = min(2 * most, REMOTE_LANES)
        self.batcher = Batcher(_RemoteBatches(self, lanes=lanes), name=app,
                               max_batch=options.max_batch_size or settings.max_batch_size,
                               max_queue=settings.max_queue, wait_s=0.0,
                               timeout_s=settings.request_timeout_s, max_lanes=lanes)
        self.batcher.start()

    @property
    def busy(self) -> bool:
        return self.in_flight > 0 or self.batcher.busy

    def send_batch(self, items: list[Any], parameters: dict[str, Any]) -> list[Prediction]:
        """One batch as one Ray call, from a worker thread; retried once on another replica
        when its replica died (``Unavailable``), other errors as the domain errors they are."""
        for attempt in (1, 2):
            response = self._handle.submit.remote(items, parameters, False)
            try:
                predictions: list[Prediction] = response.result(timeout_s=self.deadline_s)
                return predictions
            except TimeoutError:
                response.cancel()  # type: ignore[no-untyped-call]
                raise self._late() from None
            except Exception as exc:
                self._after_failure(exc, "a batch", may_retry=attempt == 1)
        raise AssertionError("unreachable")

    def _late(self) -> Unavailable:
        return Unavailable(f"the model's replicas did not answer within {self.deadline_s:g} s "
                           "(AIAAS_RAY_DEPLOY_TIMEOUT_S for a replica to start plus "
                           "AIAAS_REQUEST_TIMEOUT_S to answer)", retry_after_s=RETRY_AFTER_S)

    def _after_failure(self, exc: Exception, what: str, *, may_retry: bool) -> None:
        """Returns when the call should be sent once more (its replica died and ``may_retry``);
        otherwise raises the domain error Ray's exception stands for (or the exception itself,
        when it is not Ray's). Called inside the ``except`` block."""
        error = _translate(exc)
        if error is None:
            raise exc
        if may_retry and _retryable(error):
            self.retried += 1
            log.warning("retrying %s to %s once: %s", what, self.app, exc)
            return
        raise error from None

    async def _call(self, send: Callable[[], Awaitable[T]]) -> T:
        self.in_flight += 1
        self.last_used = time.monotonic()
        try:
            for attempt in (1, 2):
                try:
                    return await asyncio.wait_for(send(), self.deadline_s)
                except TimeoutError:
                    raise self._late() from None
                except Exception as exc:
                    self._after_failure(exc, "a call", may_retry=attempt == 1)
            raise AssertionError("unreachable")
        finally:
            self.in_flight -= 1
            self.last_used = time.monotonic()

    async def submit(self, items: list[Any], parameters: dict[str, Any], *,
                     exclusive: bool) -> list[Prediction]:
        if not exclusive:
            self.last_used = time.monotonic()
            try:
                return await self.batcher.submit(items, parameters)
            finally:
                self.last_used = time.monotonic()
        return await self._call(lambda: self._handle.submit.remote(items, parameters, exclusive))

    async def prepare(self, items: list[Any], parameters: dict[str, Any]) -> list[Any]:
        return await self._call(lambda: self._handle.prepare.remote(items, parameters))

    async def explain_methods(self) -> tuple[str, ...]:
        methods: tuple[str, ...] = await self._call(lambda: self._handle.explain_methods.remote())
        return methods

    async def explain(self, items: list[Any], parameters: dict[str, Any]) -> list[Explanation]:
        """On one replica, in its model's queue (``ModelServer.explain``); retried once on
        another when its replica died, like a batch (explaining changes nothing)."""
        explained: list[Explanation] = await self._call(
            lambda: self._handle.explain.remote(items, parameters))
        return explained

    async def stream(self, item: Any, parameters: dict[str, Any], *,
                     tenant: str = "") -> AsyncIterator[StreamEvent]:
        self.in_flight += 1
        self.last_used = time.monotonic()
        sent = False
        try:
            for attempt in (1, 2):
                events = cast("DeploymentResponseGenerator[StreamEvent]",
                              self._stream_handle.stream.remote(item, parameters, tenant))
                try:
                    async for event in events:
                        sent = True
                        yield event
                    return
                except Exception as exc:
                    self._after_failure(exc, "a generation", may_retry=attempt == 1 and not sent)
                finally:
                    events.cancel()  # type: ignore[no-untyped-call]
        finally:
            self.in_flight -= 1
            self.last_used = time.monotonic()

    def status(self) -> dict[str, Any]:
        version = self.version
        return {"model": version.model, "tenant": version.tenant, "version": version.version,
                "task": version.task, "engine": "ray-serve", "app": self.app,
                "in_flight": self.in_flight + self.batcher.in_flight,
                "queue_depth": self.batcher.depth, "max_batch_size": self.batcher.max_batch,
                "batch_lanes": self.batcher.backend.lanes, "retried": self.retried,
                "memory_bytes": 0,
                "idle_s": round(time.monotonic() - self.last_used, 1)}

    async def close(self, *, retire: bool = False) -> None:
        await self.batcher.stop()
        if retire:
            await self._factory.retire(self.version.key)


class RayReplicas:
    """Starts (or finds) a version's deployment on the cluster; plans nothing of this process's
    memory budget."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        deploy.connect(settings)

    def planned_bytes(self, version: VersionInfo) -> int:
        return 0

    async def start(self, version: VersionInfo) -> RayReplica:
        app = deploy.app_name(self.settings, version.key)
        handle = await asyncio.to_thread(deploy.ensure, self.settings, version, app)
        return RayReplica(version, handle, app, self)

    async def retire(self, key: tuple[str, str, int]) -> None:
        app = deploy.app_name(self.settings, key)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(deploy.remove, app)

    async def reconfigure(self, version: VersionInfo) -> None:
        await asyncio.to_thread(deploy.update, self.settings, version,
                                deploy.app_name(self.settings, version.key))

    async def cluster(self) -> dict[str, Any]:
        """Nodes, and every aiaas deployment with its replicas (node, state, calls served)."""
        return await deploy.describe(self.settings)
