"""``aiaas train``: queue a training job, and with ``--wait`` follow it to its result."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.follow import follow
from aiaas.cli.output import err, line, note, print_json


def parse_params(items: Sequence[str], base_model: str | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as a dict: a value that parses as JSON is taken as such (``3``,
    ``0.5``, ``true``, ``null``, ``[1, 2]``), else as the string itself. A key given twice, a
    pair without ``=`` or ``--base-model`` clashing with ``base_model=`` is refused."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE (e.g. --param epochs=5)",
                                     param_hint="--param")
        if key in params:
            raise typer.BadParameter(f"{key!r} is given twice", param_hint="--param")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    if base_model is not None:
        if "base_model" in params:
            raise typer.BadParameter("give the base model once: --base-model or --param base_model=",
                                     param_hint="--base-model")
        params["base_model"] = base_model
    return params


def train(
    task: Annotated[str, typer.Option(
        help="What to train: tabular-classification, tabular-regression, ... (the server lists "
             "them when the task is unknown).")],
    dataset: Annotated[str, typer.Option(
        help="An uploaded dataset's id or name, or builtin:NAME (e.g. builtin:iris).")],
    name: Annotated[str, typer.Option("--name", help="Model to register the result as (its next version).")],
    base_model: Annotated[str | None, typer.Option(
        help="A registered model to fine-tune or embed with (params.base_model).")] = None,
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="A hyperparameter KEY=VALUE (repeatable); VALUE is JSON when it parses "
                        "(5, 0.1, true), else a string.")] = None,
    promote_if: Annotated[str | None, typer.Option(
        help='Move the production alias to the result only if a test metric holds, e.g. '
             '"f1_macro>=0.9".')] = None,
    wait: Annotated[bool, typer.Option(
        "--wait", help="Follow the job (live progress on stderr) and print its result.")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Train a model on a dataset in a worker, evaluate it on held-out data and register it.

    Without --wait, prints the job id. With --wait, follows the job and prints its result (with
    --json: the finished job as JSON, the last thing on stdout); exits 1 when it failed or was
    cancelled. Ctrl-C stops following; the job keeps running.
    """
    params = parse_params(param or [], base_model)
    with client(url, api_key) as api:
        job = api.create_job(task, dataset, name, params=params, promote_if=promote_if)
        if wait:
            note(f"job {job.id} queued; following it (Ctrl-C stops following, the job keeps running)")
            follow(api, job.id, as_json=as_json, console=err)
            return
    if as_json:
        print_json(job)
        return
    line(job.id)
    note(f"follow it with: aiaas jobs follow {job.id}")
