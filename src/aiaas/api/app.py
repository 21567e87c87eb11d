"""``create_app(settings)``: the FastAPI app, its services and their lifespan. No globals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aiaas import __version__
from aiaas.api import (
    audit,
    billing,
    datasets,
    docs,
    errors,
    evaluations,
    explain,
    jobs,
    keys,
    models,
    openai,
    ops,
    predict,
    privacy,
    tenants,
    usage,
    v2,
)
from aiaas.api.console.routes import install as install_console
from aiaas.api.middleware import InFlightLimit, RequestContext
from aiaas.api.ratelimit import RateLimitHeaders
from aiaas.config import Settings
from aiaas.services import Services


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or Services.build(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title="aiaas",
        version=__version__,
        summary="Self-hosted AI models as a service.",
        description="Every route except /healthz and /readyz needs `Authorization: Bearer <key>`."
        " Errors share one shape: `{\"error\": {\"code\", \"message\", \"details\"}}`.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = services
    errors.install(app)
    v2.install_errors(app)
    for module in (ops, models, predict, keys, usage, docs, v2, openai, jobs, datasets, evaluations,
                   billing, tenants, audit, privacy, explain):
        app.include_router(module.router)
    install_console(app)  # the web console's pages at /, its static files, its headers
    app.add_middleware(RateLimitHeaders)  # innermost: sees the answer of every model call
    # Inside RequestContext: a refusal still gets a request id, a metric and a log line.
    app.add_middleware(InFlightLimit, limit=settings.max_in_flight,
                       wait_s=settings.in_flight_wait_s)
    app.add_middleware(
        RequestContext, metrics=services.metrics, max_body=settings.max_body_bytes,
        max_upload=settings.max_upload_bytes, on_request_end=services.idle_memory.touch,
    )
    app.add_middleware(openai.OpenAIErrorShape)  # outermost: /v1 errors from RequestContext too
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory aiaas.api.app:app_from_env``: settings from AIAAS_* only."""
    from aiaas.config import load_settings
    from aiaas.logs import configure

    settings = load_settings()
    configure(settings.log_level, json_lines=settings.log_json)
    return create_app(settings)
