"""``aiaas serve``'s uvicorn, told when its graceful shutdown starts.

uvicorn waits ``timeout_graceful_shutdown`` for responses in flight and then cancels them,
which cuts a stream mid-body. This server first begins the services' shutdown deadline, so
generations still streaming end on their own, with an error event and a clean close, before
the grace runs out.
"""

from __future__ import annotations

import contextlib
import math
import socket
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI

from aiaas.services import Services

STARTUP_FAILURE = 3  # uvicorn's exit status when the server could not start


class GracefulServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, services: Services, grace_s: float) -> None:
        super().__init__(config)
        self.services = services
        self.grace_s = grace_s

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.services.shutdown.begin(self.grace_s)
        await super().shutdown(sockets)


def run(app: FastAPI, *, grace_s: float, **options: Any) -> None:
    """Serve ``app`` (made by ``create_app``) until SIGINT/SIGTERM, as ``uvicorn.run`` would."""
    config = uvicorn.Config(app, timeout_graceful_shutdown=math.ceil(grace_s), **options)
    server = GracefulServer(config, app.state.services, grace_s)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
