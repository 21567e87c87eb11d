"""``aiaas evaluate``: score a model version on a dataset and print the metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.job_views import _confusion, _per_class
from aiaas.cli.output import err, number, out, print_json, when
from aiaas.cli.train import parse_params
from aiaas.client import Evaluation


def _scalars(evaluation: Evaluation) -> Table:
    title = "test metrics" if evaluation.split == "test" else "metrics on every row"
    table = Table("metric", Column("value", justify="right"), title=title, title_justify="left")
    for key, value in evaluation.metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            table.add_row(key, number(value))
    return table


def show_evaluation(evaluation: Evaluation) -> None:
    """The evaluation as tables: what was scored, the metrics, per class, the confusion matrix."""
    out.print(f"evaluation [bold]{evaluation.id}[/]: model {escape(evaluation.model)} version "
              f"{evaluation.version} ({evaluation.task}) on {escape(evaluation.dataset)}, split "
              f"{evaluation.split}, {evaluation.rows} rows, {evaluation.duration_ms / 1000:.2f} s "
              f"({when(evaluation.created_at)})", soft_wrap=True)
    out.print(_scalars(evaluation))
    metrics: dict[str, Any] = evaluation.metrics
    if isinstance(metrics.get("per_class"), dict):
        out.print(_per_class(metrics["per_class"]))
    if isinstance(metrics.get("confusion_matrix"), dict) and (
            matrix := _confusion(metrics["confusion_matrix"])) is not None:
        out.print(matrix)
    if evaluation.plots:
        out.print(f"plots: {', '.join(evaluation.plots)}", soft_wrap=True)


def evaluate(
    model: Annotated[str, typer.Argument(help="The model to score (yours or a built-in).")],
    dataset: Annotated[str, typer.Option(
        help="An uploaded dataset's id or name, or builtin:NAME (e.g. builtin:breast_cancer).")],
    version: Annotated[str | None, typer.Option(
        help="A version number or alias (default: production, else the latest).")] = None,
    split: Annotated[str, typer.Option(
        help="test: the rows a training job with the same seed and test_fraction held out (a "
             "series: its last horizon points); all: every row.")] = "test",
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="KEY=VALUE (repeatable): seed, test_fraction, label, text, timestamp, "
                        "value, horizon; VALUE is JSON when it parses.")] = None,
    save_plots: Annotated[Path | None, typer.Option(
        "--save-plots", help="Also save the plots as PNG files in this directory.",
        file_okay=False)] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Score a model version on a dataset, as the API serves it, with scikit-learn's metrics.

    Prints the metrics, per-class scores and the confusion matrix (with --json: the stored
    evaluation as JSON). The result is kept on the server with its plots.
    """
    if split not in ("test", "all"):
        raise typer.BadParameter(f"{split!r} is not test or all", param_hint="--split")
    params = parse_params(param or [], None)
    with client(url, api_key) as api:
        result = api.evaluate(model, dataset, version=version, split=split, params=params)
        if save_plots is not None:
            save_plots.mkdir(parents=True, exist_ok=True)
            for name in result.plots:
                saved = api.download_evaluation_plot(result.id, name, save_plots)
                err.print(f"saved {saved}", style="dim", soft_wrap=True, markup=False)
    if as_json:
        print_json(result)
        return
    show_evaluation(result)
