"""Evaluations: any registered model version scored on any compatible dataset, and kept.

``EvaluationService.evaluate`` loads the dataset through the tenant's catalogue, picks the rows
(``evaluation_tasks``), sends them through the front door (``FrontDoor.predict``) in chunks of
``settings.max_inputs`` (so it measures exactly what the API serves, with one usage row per chunk,
surface ``evaluation``), computes the metrics with scikit-learn's functions, explains the model
globally on a sample of the same rows (``global_explain``: permutation feature importance for
tabular models, influential words for text classifiers) through the front door's explain path,
draws the plots into ``<data dir>/evaluations/<id>/`` and stores the result. It runs in the
request: the row cap (``max_rows``) and the explanations' own bounds limit how long that takes.
Another tenant's model, dataset or evaluation is reported exactly as a missing one. Evaluating
needs ``predict`` and ``models:read``, reading results ``models:read``; each method checks the
caller's ``Principal``.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError
from sqlalchemy import select

from aiaas.audit import AuditLog
from aiaas.auth.principal import Principal, Scope
from aiaas.calls import FrontDoor, ModelCall, ResolvedCall
from aiaas.calls.front_door import OnModel
from aiaas.crypto.vault import Vault
from aiaas.db.engine import Database
from aiaas.db.tables import utcnow
from aiaas.db.training_tables import EvaluationRow
from aiaas.errors import Invalid, NotFound
from aiaas.registry.records import VersionInfo
from aiaas.tasks.units import Units
from aiaas.training import global_explain
from aiaas.training.datasets import Catalog
from aiaas.training.evaluation_tasks import (
    FORECASTING,
    TASKS,
    EvaluationParams,
    Part,
    Prepared,
    prepare,
    score,
)
from aiaas.training.jobs import PLOT_PURPOSE

MAX_ROWS = 20_000
"""Most rows one evaluation sends through a model (it runs inside the request)."""
SPLITS: tuple[Part, ...] = ("test", "all")
PLOT_NAME = re.compile(r"^[a-z_]{1,40}$")


# Also the API's response model: the owner's tenant and key stay on the server.
@dataclass(frozen=True)
class EvaluationInfo:
    """A model version scored on a dataset: its metrics and the plots it drew."""

    id: str
    tenant: Annotated[str, Field(exclude=True)]
    key_id: Annotated[str, Field(exclude=True)]
    model: str
    version: int
    dataset: str
    split: str
    task: str
    params: dict[str, Any]
    rows: int
    metrics: dict[str, Any]
    plots: list[str]
    created_at: datetime
    duration_ms: float

    @classmethod
    def of(cls, row: EvaluationRow) -> EvaluationInfo:
        return cls(id=row.id, tenant=row.tenant, key_id=row.key_id, model=row.model,
                   version=row.version, dataset=row.dataset, split=row.split, task=row.task,
                   params=dict(row.params), rows=row.rows, metrics=dict(row.metrics),
                   plots=[str(p) for p in row.plots], created_at=row.created_at,
                   duration_ms=row.duration_ms)


def evaluations_dir(data_dir: Path) -> Path:
    """Where each evaluation keeps its plots: ``<data dir>/evaluations/<id>/``."""
    return data_dir / "evaluations"


def check_params(params: dict[str, Any] | None) -> EvaluationParams:
    """``params`` as ``EvaluationParams``; ``Invalid`` naming the parameter otherwise."""
    try:
        return EvaluationParams.model_validate(params or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "params"
        raise Invalid(f"params.{where}: {first['msg']}", details={"field": f"params.{where}"}) from exc


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities (an undefined metric) made ``None``: JSON has neither."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


class EvaluationService:
    def __init__(self, db: Database, data_dir: Path, calls: FrontDoor, catalog: Catalog, *,
                 chunk: int, max_rows: int = MAX_ROWS, audit: AuditLog | None = None,
                 vault: Vault | None = None) -> None:
        self.db = db
        self.vault = vault or Vault.off()
        self.audit = audit
        """Told of every evaluation run (with its metrics)."""
        self.root = evaluations_dir(data_dir)
        self.calls = calls
        self.catalog = catalog
        self.chunk = chunk
        """Rows per model call (the server's input limit per call)."""
        self.max_rows = max_rows

    async def evaluate(self, principal: Principal, *, model: str, dataset: str,
                       version: str | int | None = None, split: str = "test",
                       params: dict[str, Any] | None = None) -> EvaluationInfo:
        """Score ``model`` (``version``: a number or alias; default ``production``, else the
        latest) on ``split`` of ``dataset`` and store the result.

        Raises:
            Forbidden: the key lacks ``predict`` or ``models:read``.
            NotFound: no such model, version or dataset for this tenant.
            Invalid: a bad parameter, a dataset that does not fit the model (naming what is
                missing), more rows than ``max_rows``, or a row the model refuses (named).
        """
        principal.require(Scope.PREDICT)
        principal.require(Scope.MODELS_READ)
        started = time.perf_counter()
        checked = check_params(params)
        if split not in SPLITS:
            raise Invalid(f"split must be 'test' or 'all', got {split!r}", details={"field": "split"})
        part: Part = split
        call = await self.calls.resolve(ModelCall(principal, model, version, surface="evaluation"))
        resolved = call.version
        if resolved.task not in TASKS:
            raise Invalid(f"model {model!r} serves {resolved.task}; evaluations cover "
                          f"{', '.join(TASKS)}", details={"field": "model"})
        prepared = await asyncio.to_thread(self._prepare, principal.tenant, resolved, dataset, part,
                                           checked)
        outputs = await self._predict(call, prepared)
        explained = await self._explain(call, prepared, checked.seed)
        evaluation_id = uuid.uuid4().hex
        plot_dir = self.root / evaluation_id
        try:
            metrics, names = await asyncio.to_thread(self._score, principal.tenant, prepared,
                                                     outputs, explained, plot_dir, part)
            row = EvaluationRow(
                id=evaluation_id, tenant=principal.tenant, key_id=principal.key_id,
                model=resolved.model, version=resolved.version, dataset=dataset, split=part,
                params=checked.model_dump(exclude_none=True), task=resolved.task,
                metrics=finite(metrics), plots=names, rows=prepared.size, created_at=utcnow(),
                duration_ms=round((time.perf_counter() - started) * 1000, 3))
            return await asyncio.to_thread(self._store, row, principal)
        except BaseException:
            shutil.rmtree(plot_dir, ignore_errors=True)
            raise

    def _score(self, tenant: str, prepared: Prepared, outputs: list[Any],
               explained: dict[str, Any], plot_dir: Path, part: Part
               ) -> tuple[dict[str, Any], list[str]]:
        """Metrics and plots; a sealed tenant's plots are drawn in memory-backed space and
        sealed into ``plot_dir``."""
        if not self.vault.seals(tenant):
            return score(prepared, outputs, plot_dir, part, explained)
        drawn = self.vault.private_dir("evaluation")
        try:
            result = score(prepared, outputs, drawn, part, explained)
            self.vault.seal_tree(drawn, plot_dir, tenant, PLOT_PURPOSE)
            return result
        finally:
            shutil.rmtree(drawn, ignore_errors=True)

    def _prepare(self, tenant: str, version: VersionInfo, dataset: str, part: Part,
                 params: EvaluationParams) -> Prepared:
        loaded = self.catalog.load(tenant, dataset, version.task)
        loaded = replace(loaded, info=replace(loaded.info, id=dataset))  # named as the caller did
        if part == "all" and loaded.info.rows > self.max_rows:
            raise self._too_many(dataset, part, loaded.info.rows)
        prepared = prepare(version, loaded, part, params)
        if prepared.size > self.max_rows:
            raise self._too_many(dataset, part, prepared.size)
        return prepared

    def _too_many(self, dataset: str, part: Part, rows: int) -> Invalid:
        hint = "a smaller dataset" if part == "test" else "split 'test' or a smaller dataset"
        return Invalid(f"the {part} part of dataset {dataset!r} has {rows} rows; an evaluation "
                       f"takes at most {self.max_rows}: use {hint}",
                       details={"field": "dataset", "limit": self.max_rows})

    async def _predict(self, call: ResolvedCall, prepared: Prepared) -> list[Any]:
        """The served outputs, chunk by chunk, all from the resolved version (an alias that moves
        meanwhile does not mix two versions)."""
        chunk = self.chunk
        outputs: list[Any] = []
        for start in range(0, len(prepared.inputs), chunk):
            try:
                result = await self.calls.predict(call.given(prepared.inputs[start:start + chunk]))
            except Invalid as exc:
                raise _refused(exc, prepared, start) from exc
            outputs.extend(result.outputs)
        return outputs

    async def _explain(self, call: ResolvedCall, prepared: Prepared, seed: int) -> dict[str, Any]:
        """The global explanations of the version on a seeded sample of the evaluated rows
        (``global_explain.plan``; none for images and forecasts), as one explain call through
        the front door: admitted once, its model evaluations counted as items of one usage row,
        its batches (``chunk`` items at most) queued on the version's batcher."""
        planned = global_explain.plan(prepared.task, prepared.inputs, prepared.truth,
                                      labels=prepared.labels,
                                      features=list(call.version.config.get("feature_names", [])),
                                      seed=seed, most=self.chunk)
        if planned is None:
            return {}
        chunk, stopped = self.chunk, threading.Event()

        async def run(_resolved: ResolvedCall, items: list[Any], model: OnModel
                      ) -> tuple[list[Any], Units]:
            spent = 0

            def served(batch: list[Any]) -> list[Any]:
                nonlocal spent
                outputs = []
                for start in range(0, len(batch), chunk):
                    if stopped.is_set():  # the request was cancelled: stop spending
                        raise RuntimeError("evaluation cancelled")
                    outputs += [p.output for p in model.predict(batch[start:start + chunk])]
                spent += len(batch)
                return outputs

            try:
                found = await asyncio.to_thread(planned.compute, items, served)
            finally:
                stopped.set()
            return [found], Units(items=spent)

        result = await self.calls.explain(call.given(planned.inputs), run)
        explained: dict[str, Any] = result.outputs[0]
        return explained

    def _store(self, row: EvaluationRow, principal: Principal) -> EvaluationInfo:
        with self.db.session() as session:
            session.add(row)
            session.flush()
            if self.audit is not None:
                self.audit.record(principal, "evaluation.run", "evaluation", row.id, after={
                    "model": row.model, "version": row.version, "dataset": row.dataset,
                    "split": row.split, "rows": row.rows,
                    "metrics": {k: v for k, v in row.metrics.items() if isinstance(v, int | float)}},
                    session=session)
            return EvaluationInfo.of(row)

    def get(self, principal: Principal, evaluation_id: str) -> EvaluationInfo:
        principal.require(Scope.MODELS_READ)
        with self.db.session() as session:
            row = session.get(EvaluationRow, evaluation_id) if len(evaluation_id) <= 32 else None
            if row is None or row.tenant != principal.tenant:
                raise NotFound(f"evaluation {evaluation_id!r} not found",
                               details={"evaluation": evaluation_id})
            return EvaluationInfo.of(row)

    def list_evaluations(self, principal: Principal, *, model: str | None = None,
                         limit: int = 100) -> list[EvaluationInfo]:
        """The tenant's evaluations, newest first (of ``model`` only, when given)."""
        principal.require(Scope.MODELS_READ)
        query = select(EvaluationRow).where(EvaluationRow.tenant == principal.tenant)
        if model is not None:
            query = query.where(EvaluationRow.model == model)
        with self.db.session() as session:
            rows = session.scalars(query.order_by(EvaluationRow.created_at.desc(),
                                                  EvaluationRow.id).limit(limit))
            return [EvaluationInfo.of(row) for row in rows]

    def plot(self, principal: Principal, evaluation_id: str, name: str) -> bytes:
        """A plot's PNG bytes (decrypted when the tenant's files are sealed)."""
        info = self.get(principal, evaluation_id)
        if not PLOT_NAME.match(name) or name not in info.plots:
            raise NotFound(f"evaluation {evaluation_id!r} has no plot {name!r}",
                           details={"plots": info.plots})
        path = self.root / info.id / f"{name}.png"
        if not path.is_file():
            raise NotFound(f"plot {name!r} of evaluation {evaluation_id!r} is missing on disk")
        return self.vault.read_bytes(path, principal.tenant, f"{PLOT_PURPOSE}/{name}.png")


def _refused(exc: Invalid, prepared: Prepared, start: int) -> Invalid:
    """A refusal of one item of the chunk said of the dataset row it came from (its reason,
    without the item's field name); any other refusal said of the dataset."""
    if exc.index is None or exc.naming != "prefix":
        return type(exc)(f"dataset {prepared.dataset!r}: {exc.message}", details=exc.details)
    if prepared.task == FORECASTING:
        return type(exc)(f"dataset {prepared.dataset!r}: the model refused the series: "
                         f"{exc.reason}", field="dataset")
    row = prepared.rows[start + exc.index] + 1
    return type(exc)(f"dataset {prepared.dataset!r} row {row}: {exc.reason}", field="dataset",
                     details={"row": row})
