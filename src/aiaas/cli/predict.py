"""``aiaas predict MODEL``: inputs from flags or a file, readable results or the full JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import out, print_json
from aiaas.cli.results import classification_table, embedding_table
from aiaas.client import Prediction


def parse_value(text: str) -> Any:
    """JSON when ``text`` parses as JSON, else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(pairs: list[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--param")
        parameters[key] = parse_value(value)
    return parameters


def read_inputs_file(path: str) -> tuple[list[Any], dict[str, Any]]:
    """Inputs (and parameters) from a file, or stdin for ``-``.

    A JSON list is the inputs; an object with ``inputs`` is a request body (its ``parameters``
    are used too); any other JSON value is one input. Otherwise each non-blank line is one JSON
    input (JSON Lines).
    """
    text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
        lines = [(n, row) for n, row in enumerate(text.splitlines(), start=1) if row.strip()]
        items = []
        for number, row in lines:
            try:
                items.append(json.loads(row))
            except ValueError as exc:
                raise ValueError(f"{path}: line {number} is not JSON ({exc})") from None
        if not items:
            raise ValueError(f"{path}: no inputs in the file") from None
        return items, {}
    if isinstance(data, list):
        return data, {}
    if isinstance(data, dict) and "inputs" in data:
        inputs, parameters = data["inputs"], data.get("parameters") or {}
        if not isinstance(inputs, list) or not isinstance(parameters, dict):
            raise ValueError(f"{path}: 'inputs' must be a list and 'parameters' an object")
        return inputs, parameters
    return [data], {}


def _is_classification(outputs: list[Any]) -> bool:
    return all(isinstance(o, dict) and "label" in o and "score" in o for o in outputs)


def _is_embedding(outputs: list[Any]) -> bool:
    return all(isinstance(o, dict) and isinstance(o.get("embedding"), list) for o in outputs)


def render(result: Prediction) -> None:
    """Readable output: a label table for classifiers, sizes and first values for embeddings."""
    usage = result.usage
    out.print(f"[bold]{result.model}[/] v{result.version} · {usage.items} item(s) · "
              f"{usage.latency_ms:.1f} ms")
    outputs = result.outputs
    if outputs and _is_classification(outputs):
        out.print(classification_table(outputs))
    elif outputs and _is_embedding(outputs):
        out.print(embedding_table([output["embedding"] for output in outputs]))
    else:
        for index, output in enumerate(outputs):
            out.print(f"{index}: {json.dumps(output, ensure_ascii=False)}", soft_wrap=True)


def predict(
    model: Annotated[str, typer.Argument(help="Model name.")],
    inputs: Annotated[list[str] | None, typer.Option(
        "--input", "-i", help="One input (repeatable); parsed as JSON when it parses, else text.")] = None,
    file: Annotated[str | None, typer.Option(
        "--file", "-f", help="JSON list of inputs, an {\"inputs\": ...} body, one JSON value, or "
                             "JSON Lines; '-' reads stdin.")] = None,
    params: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="KEY=VALUE parameter (repeatable); VALUE parsed as JSON when it can.")] = None,
    version: Annotated[str | None, typer.Option(
        help="Version number or alias (default: production, else the latest).")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run inputs through a model."""
    items = [parse_value(text) for text in inputs or []]
    parameters: dict[str, Any] = {}
    if file is not None:
        from_file, parameters = read_inputs_file(file)
        items.extend(from_file)
    parameters.update(parse_params(params or []))
    if not items:
        raise typer.BadParameter("give at least one --input, or --file", param_hint="--input")
    with client(url, api_key) as api:
        result = api.predict(model, items, parameters=parameters, version=version)
    if as_json:
        print_json(result)
    else:
        render(result)
