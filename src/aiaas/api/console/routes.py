"""Mounting the console on the app: its page routers and static files."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from aiaas.api.console import (
    audit_pages,
    auth_pages,
    evaluation_pages,
    governance_pages,
    models_pages,
    ops_pages,
    playground_pages,
    training_pages,
)
from aiaas.api.console.render import HERE

ROUTERS = (auth_pages.router, models_pages.router, ops_pages.router, playground_pages.router,
           training_pages.router, evaluation_pages.router, governance_pages.router,
           audit_pages.router)


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    # Compressed on the way out (the budget is 250 KB of JS+CSS per page, compressed).
    app.mount("/static/console", GZipMiddleware(StaticFiles(directory=HERE / "static"),
                                                minimum_size=512), name="console-static")
