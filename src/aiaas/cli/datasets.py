"""``aiaas datasets ...``: upload, list, show and delete datasets through the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import err, number, out, print_json, size, when
from aiaas.client import Dataset

app = typer.Typer(help="Upload, list, show and delete datasets to train on.", no_args_is_help=True)

DatasetId = Annotated[str, typer.Argument(help="The dataset's id or name (or builtin:NAME to show).")]


def _size(dataset: Dataset) -> str:
    return "-" if dataset.size_bytes is None else size(dataset.size_bytes)


@app.command()
def upload(
    path: Annotated[Path, typer.Argument(help="A .csv or .jsonl table, or a .zip of class folders.",
                                         exists=True, dir_okay=False)],
    name: Annotated[str | None, typer.Option("--name", help="Dataset name (default: the server's).")] = None,
    label: Annotated[str | None, typer.Option(help="The target column.")] = None,
    split_column: Annotated[str | None, typer.Option(
        help="Your own split column (train/validation/test per row).")] = None,
    timestamp: Annotated[str | None, typer.Option(help="The time column of a series.")] = None,
    pii: Annotated[str | None, typer.Option(
        help="report: count PII in string columns; redact: also replace it with typed "
             "placeholders before the table is stored.")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload a dataset (streamed, with a progress bar on stderr); the server checks it and names
    the row, line or file of the first problem."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with client(url, api_key) as api, Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(f"uploading {path.name}", total=None)

        def progress(sent: int, total: int) -> None:
            bar.update(task, completed=sent, total=total)

        dataset = api.upload_dataset(path, name=name, label=label, split_column=split_column,
                                     timestamp=timestamp, progress=progress, pii=pii)
    if as_json:
        print_json(dataset)
        return
    out.print(f"uploaded dataset [bold]{escape(dataset.name)}[/] ({dataset.id}): {dataset.kind}, "
              f"{dataset.rows} rows, {_size(dataset)}", soft_wrap=True)
    out.print(f"train on it with: aiaas train --task TASK --dataset {dataset.id} --name MODEL",
              soft_wrap=True, markup=False)


@app.command("list")
def list_datasets(url: UrlOption = None, api_key: ApiKeyOption = None,
                  as_json: JsonOption = False) -> None:
    """The built-in datasets and your tenant's."""
    with client(url, api_key) as api:
        datasets = api.list_datasets()
    if as_json:
        print_json(datasets)
        return
    table = Table(Column("id", no_wrap=True), "name", "kind", "rows", "columns", "label",
                  Column("size", no_wrap=True), Column("created", no_wrap=True))
    for dataset in datasets:
        table.add_row(escape(dataset.id), escape(dataset.name), dataset.kind, str(dataset.rows),
                      str(len(dataset.columns)) if dataset.columns else "-",
                      escape(dataset.label or "-"), _size(dataset), when(dataset.created_at))
    out.print(table)


def _stat(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key}: {number(count)}" for key, count in value.items())
    return number(value)


@app.command()
def show(dataset_id: DatasetId, url: UrlOption = None, api_key: ApiKeyOption = None,
         as_json: JsonOption = False) -> None:
    """A dataset's columns and statistics (rows, class balance, ...)."""
    with client(url, api_key) as api:
        dataset = api.get_dataset(dataset_id)
    if as_json:
        print_json(dataset)
        return
    out.print(f"[bold]{escape(dataset.name)}[/] ({escape(dataset.id)}): {dataset.kind}"
              f"{', ' + dataset.format if dataset.format else ''}, {dataset.rows} rows, "
              f"{_size(dataset)}", soft_wrap=True)
    if dataset.description:
        out.print(escape(dataset.description))
    roles = {"label": dataset.label, "split column": dataset.split_column,
             "timestamp": dataset.timestamp}
    shown = ", ".join(f"{role}: {escape(value)}" for role, value in roles.items() if value)
    out.print(shown or "no label column")
    if dataset.columns:
        table = Table("column", "type")
        for column, kind in dataset.columns.items():
            table.add_row(escape(column), escape(str(kind)))
        out.print(table)
    if dataset.stats:
        stats = Table("statistic", Column("value", ratio=1))
        for key, value in dataset.stats.items():
            stats.add_row(escape(key), escape(_stat(value)))
        out.print(stats)


@app.command()
def delete(
    dataset_id: DatasetId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete one of your datasets (built-ins cannot be deleted)."""
    if not yes:
        typer.confirm(f"Delete dataset {dataset_id}?", abort=True, err=True)
    with client(url, api_key) as api:
        api.delete_dataset(dataset_id)
    if as_json:
        print_json({"deleted": dataset_id})
        return
    out.print(f"deleted dataset {dataset_id}")
