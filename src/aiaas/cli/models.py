"""``aiaas models ...``: the registry, through the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
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
from aiaas.cli.output import err, number, out, pairs, print_json, size, when
from aiaas.client import Model

app = typer.Typer(help="List, show, register, alias and delete models.", no_args_is_help=True)


def _owner(model: Model) -> str:
    return "builtin" if model.builtin else model.tenant


@app.command("list")
def list_models(url: UrlOption = None, api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """The built-in models and your tenant's."""
    with client(url, api_key) as api:
        models = api.list_models()
    if as_json:
        print_json(models)
        return
    table = Table(Column("name", no_wrap=True), Column("task", no_wrap=True), "owner", "production",
                  "latest", Column("description", ratio=1))
    for model in models:
        production = model.aliases.get("production")
        table.add_row(model.name, model.task, _owner(model), str(production or "-"),
                      str(model.latest_version or "-"), model.description)
    out.print(table)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Model name.")],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """A model's details, aliases and versions (with their metrics)."""
    with client(url, api_key) as api:
        model = api.get_model(name)
    if as_json:
        print_json(model)
        return
    out.print(f"[bold]{model.name}[/]  ({model.task}, {_owner(model)})")
    if model.description:
        out.print(model.description)
    out.print(f"created {when(model.created_at)} by {model.created_by}; "
              f"aliases: {pairs(model.aliases)}; latest: {model.latest_version or '-'}")
    table = Table("version", "aliases", "format", Column("size", no_wrap=True),
                  Column("created", no_wrap=True), "labels", "metrics")
    for version in model.versions:
        labels = ", ".join(str(label) for label in version.labels[:6])
        if len(version.labels) > 6:
            labels += ", ..."
        table.add_row(str(version.version), ", ".join(version.aliases) or "-", version.format,
                      size(version.size_bytes), when(version.created_at), labels or "-",
                      "\n".join(f"{k}={number(v)}" for k, v in version.metrics.items()) or "-")
    out.print(table)


@app.command()
def register(
    path: Annotated[Path, typer.Argument(help="A model directory, or a .tar.gz/.tar/.zip of one.",
                                         exists=True)],
    name: Annotated[str, typer.Option("--name", help="Model name (a new version if it exists).")],
    task: Annotated[str | None, typer.Option(help="Task; the server detects it when omitted.")] = None,
    description: Annotated[str | None, typer.Option(help="Model description.")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload a model as the next version of NAME (streamed, with a progress bar on stderr)."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn())
    with client(url, api_key) as api, Progress(*columns, console=err, transient=True) as bar:
        job = bar.add_task(f"packing {path.name}" if path.is_dir() else f"uploading {path.name}",
                           total=None)

        def progress(sent: int, total: int) -> None:
            bar.update(job, description=f"uploading {name}", completed=sent, total=total)

        version = api.upload_model(name, path, task=task, description=description, progress=progress)
    if as_json:
        print_json(version)
        return
    aliases = f" (aliases: {', '.join(version.aliases)})" if version.aliases else ""
    out.print(f"registered {version.model} version {version.version}{aliases}: {version.task}, "
              f"{version.format}, {size(version.size_bytes)}")
    if "production" not in version.aliases:
        out.print(f"make it the default with: aiaas models alias {version.model} production "
                  f"{version.version}")


@app.command()
def alias(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias, e.g. production.")],
    version: Annotated[int, typer.Argument(help="Version number.", min=1)],
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point ALIAS at VERSION (predict uses 'production' by default)."""
    with client(url, api_key) as api:
        model = api.set_alias(name, alias_name, version)
    if as_json:
        print_json(model)
        return
    out.print(f"{model.name}: {alias_name} -> version {version}")


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int | None, typer.Option(help="Delete only this version.", min=1)] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a model with all its versions, or one version (refused while an alias points at it)."""
    what = f"version {version} of {name}" if version else f"model {name} and all its versions"
    if not yes:
        typer.confirm(f"Delete {what}?", abort=True, err=True)
    with client(url, api_key) as api:
        if version is None:
            api.delete_model(name)
        else:
            api.delete_version(name, version)
    if as_json:
        print_json({"deleted": name, "version": version})
        return
    out.print(f"deleted {what}")
