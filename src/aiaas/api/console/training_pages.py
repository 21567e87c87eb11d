"""The training pages: datasets (list and upload, one dataset with its preview, delete), the form
that starts a job, the job list and one job followed live.

Pages read through the same services as the API, as the signed-in key, so another tenant's
dataset or job is a 404 page and never appears in a list. Uploading, starting and cancelling a
job are done by the page's script against the JSON API (``/api/v1/datasets``, ``/api/v1/jobs``)
with the session cookie: the console refuses exactly what the API refuses, in the same words.
The job form is drawn from each trainer's parameter model (its JSON schema), so a parameter a
trainer gains appears in the form without a template change.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel
from starlette.responses import RedirectResponse, Response

from aiaas.api.console.render import PageRoute, SessionDep, page
from aiaas.api.console.session import check_change
from aiaas.auth.principal import Scope
from aiaas.errors import NotFound
from aiaas.training.datasets import DatasetRecord
from aiaas.training.trainers import specs

router = APIRouter(route_class=PageRoute, include_in_schema=False)
LABELS = {"cv_folds": "Cross-validation folds", "n_estimators": "Estimators",
          "c": "C (inverse regularisation)", "base_model": "Base model", "lags": "Lags"}
IMAGE_TASKS = frozenset({"image-classification"})


@dataclass(frozen=True)
class ParamField:
    """One form control for a parameter of a pydantic model: ``kind`` is choice, integer,
    number, boolean, integers (a comma-separated list) or text."""

    name: str
    label: str
    kind: str
    default: Any
    default_text: str
    choices: tuple[str, ...]
    minimum: float | None
    maximum: float | None
    hint: str


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def param_fields(model: type[BaseModel]) -> list[ParamField]:
    """The form controls for ``model``'s fields, from its JSON schema (a nullable field may be
    left empty: the server's default applies)."""
    fields = []
    for name, spec in model.model_json_schema()["properties"].items():
        options = spec.get("anyOf", [spec])
        inner: dict[str, Any] = next((o for o in options if o.get("type") != "null"), {})
        kind = ("choice" if "enum" in inner else
                {"boolean": "boolean", "integer": "integer", "number": "number",
                 "array": "integers"}.get(inner.get("type", ""), "text"))
        default = spec.get("default")
        bounds = []
        if "minimum" in inner:
            bounds.append(f"at least {inner['minimum']:g}")
        if "exclusiveMinimum" in inner:
            bounds.append(f"above {inner['exclusiveMinimum']:g}")
        if "maximum" in inner:
            bounds.append(f"at most {inner['maximum']:g}")
        hint = " ".join(part for part in (
            spec.get("description", ""),
            f"{', '.join(bounds).capitalize()}." if bounds and kind != "choice" else "",
            "Comma-separated." if kind == "integers" else "",
            f"Default: {_text(default)}." if default is not None else "") if part)
        fields.append(ParamField(
            name, LABELS.get(name, name.replace("_", " ").capitalize()), kind, default,
            _text(default), tuple(inner.get("enum", ())), inner.get("minimum"),
            inner.get("maximum"), hint))
    return fields


@dataclass(frozen=True)
class Trainer:
    task: str
    description: str
    metrics: tuple[str, ...]
    fields: list[ParamField]


def _trainers() -> list[Trainer]:
    return [Trainer(spec.task, spec.description, spec.metrics, param_fields(spec.params))
            for spec in specs().values()]


def fits(record: DatasetRecord, task: str) -> bool:
    """Whether the job form offers ``record`` for ``task`` (the server checks it fully)."""
    if record.tasks:
        return task in record.tasks
    return (record.kind == "images") == (task in IMAGE_TASKS)


# Datasets


@router.get("/datasets")
async def datasets_page(request: Request, view: SessionDep, deleted: str = "") -> Response:
    records = await asyncio.to_thread(request.app.state.services.jobs.catalog.entries,
                                      view.principal)
    return page(request, view, "datasets.html", own=[r for r in records if not r.builtin],
                builtins=[r for r in records if r.builtin], deleted=deleted,
                can_upload=view.principal.allows(Scope.MODELS_WRITE))


@router.get("/datasets/{name}")
async def dataset_page(request: Request, view: SessionDep, name: str) -> Response:
    catalog = request.app.state.services.jobs.catalog
    record = await asyncio.to_thread(catalog.entry, view.principal, name)
    preview = await asyncio.to_thread(catalog.preview, view.principal, record.id)
    can_write = view.principal.allows(Scope.MODELS_WRITE)
    trainable = [t for t in await asyncio.to_thread(specs) if fits(record, t)]
    return page(request, view, "dataset.html", dataset=record, preview=preview,
                can_delete=can_write and not record.builtin, can_train=can_write,
                train_task=trainable[0] if trainable else "")


@router.post("/datasets/{name}/delete")
async def delete_dataset(request: Request, view: SessionDep, name: str,
                         csrf_token: Annotated[str, Form(max_length=128)] = "") -> Response:
    check_change(request, view, csrf_token)
    catalog = request.app.state.services.jobs.catalog
    record = await asyncio.to_thread(catalog.entry, view.principal, name)
    await asyncio.to_thread(catalog.delete, view.principal, record.id)
    return RedirectResponse(f"/datasets?deleted={record.name}", status_code=303)


# Jobs


@router.get("/jobs")
async def jobs_page(request: Request, view: SessionDep) -> Response:
    jobs_service = request.app.state.services.jobs
    jobs = await asyncio.to_thread(jobs_service.list_jobs, view.principal, 100)
    running = [job.id for job in jobs if job.status == "running"]
    progress = await asyncio.to_thread(jobs_service.latest_progress, view.principal, running)
    records = await asyncio.to_thread(jobs_service.catalog.entries, view.principal)
    return page(request, view, "jobs.html", jobs=jobs, progress=progress,
                dataset_names={r.id: r.name for r in records},
                can_start=view.principal.allows(Scope.MODELS_WRITE))


@router.get("/jobs/new")
async def new_job_page(request: Request, view: SessionDep, dataset: str = "",
                       task: str = "") -> Response:
    view.principal.require(Scope.MODELS_WRITE)
    services = request.app.state.services
    records = await asyncio.to_thread(services.jobs.catalog.entries, view.principal)
    models = await asyncio.to_thread(services.registry.list_models, view.principal)
    trainers = await asyncio.to_thread(_trainers)
    chosen = next((r for r in records if dataset in (r.id, r.name)), None)
    tasks = [t.task for t in trainers]
    if task not in tasks:
        task = next((t for t in tasks if chosen is not None and fits(chosen, t)), tasks[0])
    return page(request, view, "job_new.html", trainers=trainers, task=task, datasets=records,
                dataset=chosen.id if chosen is not None else "",
                fitting={r.id: [t for t in tasks if fits(r, t)] for r in records},
                model_names=sorted(m.name for m in models))


@router.get("/jobs/{job_id}")
async def job_page(request: Request, view: SessionDep, job_id: str) -> Response:
    jobs_service = request.app.state.services.jobs
    job = await asyncio.to_thread(jobs_service.get, view.principal, job_id)
    try:  # named as the dataset page names it; a dataset deleted since keeps the job's reference
        dataset = (await asyncio.to_thread(jobs_service.catalog.entry, view.principal,
                                           job.dataset)).name
    except NotFound:
        dataset = job.dataset
    return page(request, view, "job.html", job=job, dataset=dataset,
                can_cancel=view.principal.allows(Scope.MODELS_WRITE) and not job.finished)
