"""Tables for training jobs: the list, and one job with its test metrics, per-class scores,
confusion matrix, promotion decision and plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape
from rich.table import Column, Table

from aiaas.cli.output import number, out, print_json, when
from aiaas.client import Job

_MATRIX_LABELS = 12
"""A confusion matrix with more classes than this is left to the plot."""


def headline(job: Job) -> str:
    """The one-line key metric of a finished job: the first scalar metric it reports."""
    for key, value in job.metrics.items():
        if isinstance(value, int | float) and key != "samples":
            return f"{key}={number(value)}"
    return "-"


def jobs_table(jobs: Sequence[Job]) -> Table:
    table = Table(Column("id", no_wrap=True), "task", "dataset", "model", Column("ver", no_wrap=True),
                  Column("status", no_wrap=True), Column("created", no_wrap=True), "metric")
    for job in jobs:
        created = job.created_at.strftime("%m-%d %H:%M")
        table.add_row(job.id, job.task, escape(job.dataset), escape(job.model), str(job.version or "-"),
                      job.status, created, headline(job))
    return table


def _scalars(metrics: Mapping[str, Any]) -> Table:
    table = Table("metric", Column("value", justify="right"), title="test metrics", title_justify="left")
    for key, value in metrics.items():
        if isinstance(value, int | float):
            table.add_row(key, number(value))
    return table


def _per_class(per_class: Mapping[str, Any]) -> Table:
    table = Table("class", *(Column(name, justify="right") for name in ("precision", "recall", "f1",
                                                                       "support")),
                  title="per class", title_justify="left")
    for label, scores in per_class.items():
        table.add_row(escape(str(label)), *(number(scores.get(name, "-"))
                                            for name in ("precision", "recall", "f1", "support")))
    return table


def _confusion(confusion: Mapping[str, Any]) -> Table | None:
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    if not labels or len(labels) > _MATRIX_LABELS or len(matrix) != len(labels):
        return None
    table = Table("true \\ predicted", *(Column(escape(str(label)), justify="right") for label in labels),
                  title="confusion matrix", title_justify="left")
    for label, row in zip(labels, matrix, strict=True):
        table.add_row(escape(str(label)), *(str(count) for count in row))
    return table


def show_job(job: Job, *, as_json: bool) -> None:
    """The job on stdout: JSON only, or its state, result and metrics as tables."""
    if as_json:
        print_json(job)
        return
    out.print(f"job [bold]{job.id}[/]: {job.status}  ({job.task} on {escape(job.dataset)} -> "
              f"model {escape(job.model)})", soft_wrap=True)
    if job.params:
        out.print("params: " + ", ".join(f"{k}={v}" for k, v in job.params.items() if v is not None),
                  soft_wrap=True, markup=False)
    out.print(f"created {when(job.created_at)}, started {when(job.started_at)}, "
              f"finished {when(job.finished_at)}")
    if job.error:
        out.print(f"[red]error:[/] {escape(job.error)}", soft_wrap=True)
    if job.version is not None:
        reason = job.result.get("promotion_reason")
        promoted = "promoted to production" if job.promoted else "not promoted"
        out.print(f"registered [bold]{escape(job.model)}[/] version {job.version}: {promoted}"
                  + (f" ({escape(str(reason))})" if reason else ""), soft_wrap=True)
    if job.metrics:
        out.print(_scalars(job.metrics))
    if isinstance(job.metrics.get("per_class"), dict):
        out.print(_per_class(job.metrics["per_class"]))
    if isinstance(job.metrics.get("confusion_matrix"), dict) and (
            matrix := _confusion(job.metrics["confusion_matrix"])) is not None:
        out.print(matrix)
    if job.plots:
        out.print(f"plots: {', '.join(job.plots)}  (save one with: aiaas jobs plot {job.id} NAME)",
                  soft_wrap=True)
