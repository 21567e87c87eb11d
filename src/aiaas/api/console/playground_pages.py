"""The playgrounds: one page per kind of model (chat, embeddings, classify, speech, forecast) to
try a model in the browser, with the same call as code ("View code").

A page only reads the registry (the models the key may call, the chosen version's labels,
features, sampling defaults or horizon) and renders; every model call is made by the page's
script against the real API (``/v1``, ``/api/v1``) with the session cookie, so a playground can
do exactly what the key can do with curl, no more, and is metered like any other call. The code
shown is generated here (``snippets``) for the chosen model, this server's URL and the page's
example input.

A key without ``models:read`` cannot list models: its pages ask for a model name instead, and a
named model is looked up as V2 metadata is (``predict`` suffices).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from aiaas.api.console.models_pages import PLAYGROUND_OF
from aiaas.api.console.render import PageRoute, SessionDep, page
from aiaas.api.console.snippets import LABELS, Example, snippets
from aiaas.auth.principal import Principal, Scope
from aiaas.errors import Invalid, NotFound
from aiaas.registry.records import ModelInfo, VersionInfo
from aiaas.services import Services
from aiaas.tasks.forecaster_spec import read_spec
from aiaas.tasks.forecasting import iso
from aiaas.tasks.generation_params import DEFAULT_MAX_TOKENS, GenerationParams

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@dataclass(frozen=True)
class Kind:
    title: str
    summary: str


KINDS = {
    "chat": Kind("Chat", "Talk with a chat model; the answer streams in as it is written."),
    "embeddings": Kind("Embeddings", "Compare texts by the cosine similarity of their "
                                     "embeddings."),
    "classify": Kind("Classify", "Label a text, an image or a row of features, and see which "
                                 "parts decided it."),
    "speech": Kind("Speech", "Transcribe an audio file or a recording, with timestamps."),
    "forecast": Kind("Forecast", "Forecast a time series with its prediction interval."),
}
SYSTEM = "You are a helpful assistant. Answer briefly."
PROMPT = "What is the capital of France?"
TEXTS = ["A man is playing a guitar.", "Someone plays an acoustic guitar on stage.",
         "The stock market fell sharply today.", "Shares dropped at the opening bell."]
REVIEW = "A wonderful, warm film with a clever script."
TABULAR = ("tabular-classification", "tabular-regression")
STORED_POINTS = 104
"""How much of a forecaster's stored series its page draws (two years of weekly data)."""


async def _listed(services: Services, principal: Principal) -> tuple[list[ModelInfo], bool]:
    """The models the key sees, and whether it may list them at all (``models:read``)."""
    if not principal.allows(Scope.MODELS_READ):
        return [], False
    return await asyncio.to_thread(services.registry.list_models, principal), True


@router.get("/playground")
async def index(request: Request, view: SessionDep) -> Response:
    models, listed = await _listed(request.app.state.services, view.principal)
    by_kind = {kind: [m for m in models if PLAYGROUND_OF.get(m.task) == kind] for kind in KINDS}
    return page(request, view, "playgrounds.html", kinds=KINDS, by_kind=by_kind, listed=listed,
                can_predict=view.principal.allows(Scope.PREDICT))


@router.get("/playground/{kind}")
async def playground(request: Request, view: SessionDep, kind: str, model: str = "") -> Response:
    if kind not in KINDS:
        raise NotFound(f"there is no {kind!r} playground; there are: {', '.join(KINDS)}")
    services: Services = request.app.state.services
    principal = view.principal
    models, listed = await _listed(services, principal)
    choices = [m for m in models if PLAYGROUND_OF.get(m.task) == kind]
    name = model.strip() or (choices[0].name if choices else "")
    context: dict[str, Any] = {"kind": kind, "meta": KINDS[kind], "choices": choices,
                               "listed": listed, "chosen": None, "labels": LABELS,
                               "can_predict": principal.allows(Scope.PREDICT)}
    if name:
        info, version = await asyncio.to_thread(services.registry.lookup, principal, name)
        right = PLAYGROUND_OF.get(version.task)
        if right != kind:
            where = f"open it in the {right} playground" if right else "no playground takes it"
            raise Invalid(f"model {name!r} is a {version.task} model, not one for the {kind} "
                          f"playground: {where}", details={"field": "model"})
        example, data = await asyncio.to_thread(SETUP[kind], services, principal, version)
        base = str(request.base_url).rstrip("/")
        context |= {"chosen": info, "task": version.task, "example": example,
                    "data": {"model": info.name, "task": version.task, **data},
                    "snippets": snippets(kind, info.name, base, example)}
    return page(request, view, f"playground_{kind}.html", **context)


Setup = tuple[Example, dict[str, Any]]


def _chat(services: Services, principal: Principal, version: VersionInfo) -> Setup:
    """The sampling a request that sets nothing gets (the model's own, else the API's), which
    the page shows and lets the user change."""
    limit = int(version.config.get("max_tokens_limit", services.calls.limits.max_tokens))
    own = version.config.get("sampling_defaults") or {}
    generic = GenerationParams()
    defaults = {"max_tokens": min(DEFAULT_MAX_TOKENS, limit),
                "temperature": float(own.get("temperature", generic.temperature)),
                "top_p": float(own.get("top_p", generic.top_p))}
    example = {"messages": [{"role": "system", "content": SYSTEM},
                            {"role": "user", "content": PROMPT}], **defaults, "stop": []}
    return example, {"defaults": defaults, "own": sorted(own), "limit": limit,
                     "system": SYSTEM, "prompt": PROMPT}


def _embeddings(services: Services, principal: Principal, version: VersionInfo) -> Setup:
    return {"input": TEXTS}, {"texts": TEXTS, "dimensions": version.config.get("dimensions")}


def _classify(services: Services, principal: Principal, version: VersionInfo) -> Setup:
    """Tabular models get a form of their features (empty: no version stores a sample row; the
    code shows zeros), text and image models a text box or an image drop."""
    task = version.task
    data: dict[str, Any] = {"labels": [str(label) for label in version.labels],
                            "features": list(version.config.get("feature_names", []))}
    if task in TABULAR:
        return {"task": task, "record": dict.fromkeys(data["features"], 0.0)}, data
    if task == "image-classification":
        return {"task": task, "file": "image.png"}, data
    return {"task": task, "text": REVIEW}, {**data, "text": REVIEW}


def _speech(services: Services, principal: Principal, version: VersionInfo) -> Setup:
    return {"file": "speech.wav"}, {}


def _forecast(services: Services, principal: Principal, version: VersionInfo) -> Setup:
    """The horizon and time grid; with ``models:read``, the end of the stored series too (part
    of the model: what it forecasts from), drawn before the forecast."""
    config = version.config
    stored = None
    if principal.allows(Scope.MODELS_READ):
        spec = read_spec(services.registry.artifact_path(version))
        index = spec.history_index()[-STORED_POINTS:]
        stored = {"timestamps": [iso(stamp) for stamp in index],
                  "values": spec.history.values[-len(index):]}
    horizon = int(config["horizon"])
    return {"horizon": horizon}, {
        "horizon": horizon, "frequency": config["frequency"], "level": config.get("level"),
        "value_name": config.get("value_name", "value"), "history_start": config["history_start"],
        "history_end": config["history_end"], "stored": stored}


SETUP = {"chat": _chat, "embeddings": _embeddings, "classify": _classify, "speech": _speech,
         "forecast": _forecast}
