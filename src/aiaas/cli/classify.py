"""``aiaas classify MODEL INPUT...``: labels for images, texts or tabular records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import out, print_json
from aiaas.cli.predict import parse_value, read_inputs_file
from aiaas.cli.results import classification_table, shorten


def parse_input(text: str) -> Any:
    """An existing file is an image (a ``Path``); else JSON when it parses (a record); else text."""
    path = Path(text).expanduser()
    try:
        if path.is_file():
            return path
    except OSError:  # too long, or otherwise impossible, as a file name: not a path
        pass
    return parse_value(text)


def describe(item: Any) -> str:
    if isinstance(item, Path):
        return item.name
    if isinstance(item, str):
        return shorten(item)
    return shorten(json.dumps(item, ensure_ascii=False))


def classify(
    model: Annotated[str, typer.Argument(help="A classification model (tabular, text or image).")],
    inputs: Annotated[list[str] | None, typer.Argument(
        metavar="INPUT...", help="An image file's path, a JSON record, or a text.")] = None,
    file: Annotated[str | None, typer.Option(
        "--file", "-f", help="More inputs: a JSON list, one JSON value or JSON Lines; '-' reads "
                             "stdin.")] = None,
    top_k: Annotated[int | None, typer.Option(
        "--top-k", "-k", min=1, help="How many best labels to list (text and image models).")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Classify inputs: images are uploaded as files, records and texts sent as JSON."""
    items = [parse_input(text) for text in inputs or []]
    if file is not None:
        items.extend(read_inputs_file(file)[0])
    if not items:
        raise typer.BadParameter("give at least one INPUT, or --file", param_hint="INPUT")
    with client(url, api_key) as api:
        results = api.classify(items, model=model, top_k=top_k)
    if as_json:
        print_json(results)
        return
    out.print(f"[bold]{model}[/] · {len(results)} input(s)")
    out.print(classification_table([result.model_dump() for result in results],
                                   [describe(item) for item in items]))
