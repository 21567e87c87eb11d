"""The overview and the model pages: catalog, one model, moving an alias, uploading a version.

Every page reads the registry as the signed-in key (built-in models and its tenant's own), so a
key of another tenant never sees them; changes go through the same service calls as the API.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from aiaas.api.console.render import PageRoute, SessionDep, page
from aiaas.api.console.session import check_change
from aiaas.auth.principal import Scope
from aiaas.db.tables import utcnow
from aiaas.tasks import TASKS

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PLAYGROUND_OF = {
    "chat": "chat", "embedding": "embeddings", "text-classification": "classify",
    "image-classification": "classify", "tabular-classification": "classify",
    "tabular-regression": "classify", "speech-recognition": "speech", "forecasting": "forecast",
}


@router.get("/")
async def overview(request: Request, view: SessionDep) -> Response:
    services = request.app.state.services
    principal = view.principal
    models = await asyncio.to_thread(services.registry.list_models, principal)
    report = await asyncio.to_thread(services.usage.report, principal,
                                     since=utcnow() - timedelta(days=1), limit=1)
    admin = principal.allows(Scope.ADMIN)
    traffic = await asyncio.to_thread(services.usage.traffic, principal, window_s=900,
                                      every_tenant=admin)
    return page(request, view, "overview.html", models=models, totals=report.totals,
                traffic=traffic, loaded=services.placement.status() if admin else [],
                memory_bytes=services.placement.used_bytes() if admin else 0)


@router.get("/models")
async def catalog(request: Request, view: SessionDep, q: str = "", task: str = "") -> Response:
    models = await asyncio.to_thread(request.app.state.services.registry.list_models,
                                     view.principal)
    needle = q.strip().lower()
    shown = [m for m in models
             if (not needle or needle in m.name.lower() or needle in m.description.lower())
             and (not task or m.task == task)]
    return page(request, view, "models.html", models=shown, q=q, task=task,
                tasks=sorted({m.task for m in models}), playground_of=PLAYGROUND_OF)


@router.get("/models/{name}")
async def model_page(request: Request, view: SessionDep, name: str) -> Response:
    model = await asyncio.to_thread(request.app.state.services.registry.get_model,
                                    view.principal, name)
    can_write = view.principal.allows(Scope.MODELS_WRITE) and not model.builtin
    # The model was resolved for this key, so its replicas are its to see (engine, queue).
    running = {replica["version"]: replica
               for replica in request.app.state.services.placement.status()
               if replica["model"] == model.name and replica["tenant"] == model.tenant}
    return page(request, view, "model.html", model=model, can_write=can_write, running=running,
                playground=PLAYGROUND_OF.get(model.task), moved=request.query_params.get("moved"))


@router.post("/models/{name}/aliases")
async def move_alias(request: Request, view: SessionDep, name: str,
                     alias: Annotated[str, Form(max_length=64)],
                     version: Annotated[int, Form(ge=1)],
                     csrf_token: Annotated[str, Form(max_length=128)] = "") -> Response:
    check_change(request, view, csrf_token)
    await asyncio.to_thread(request.app.state.services.registry.set_alias, view.principal,
                            name, alias, version)
    return RedirectResponse(f"/models/{name}?moved={alias}", status_code=303)


@router.get("/models-upload")
async def upload_page(request: Request, view: SessionDep) -> Response:
    view.principal.require(Scope.MODELS_WRITE)
    return page(request, view, "model_upload.html", tasks=sorted(TASKS))
