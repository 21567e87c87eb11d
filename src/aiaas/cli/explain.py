"""``aiaas explain MODEL INPUT``: why a model answered as it did.

Tabular models print their features ranked by attribution; text models print the text with each
word coloured by how much it pushed towards (green) or away from (red) the explained label;
forecasters print a row per step: its value, trend, base value, and what the lags and the
calendar (season) added; an image (a file path as INPUT) is summarised, and its heat map drawn
over it is written as a PNG with ``-o``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import out, print_json
from aiaas.cli.predict import parse_value


def _features(explained: Any, limit: int) -> Table:
    table = Table("feature", "value", "attribution")
    for feature in explained.features[:limit]:
        colour = "green" if feature.attribution >= 0 else "red"
        table.add_row(feature.name, f"{feature.value:g}",
                      f"[{colour}]{feature.attribution:+.4f}[/]")
    return table


def _signed(value: float) -> str:
    return f"[{'green' if value >= 0 else 'red'}]{value:+.4f}[/]"


def _steps(explained: Any) -> Table:
    table = Table("step", "value", "trend", "base", "lags", "season")
    for step in explained.steps:
        table.add_row(step.timestamp, f"{step.value:.4f}", f"{step.trend:.4f}",
                      f"{step.base_value:.4f}", _signed(step.lags), _signed(step.season))
    return table


def _words(text: str, explained: Any) -> Text:
    coloured = Text()
    largest = max((abs(word.attribution) for word in explained.words), default=0.0) or 1.0
    cursor = 0
    for word in explained.words:
        coloured.append(text[cursor:word.start])
        strength = abs(word.attribution) / largest
        shade = int(90 + 165 * strength)
        colour = f"rgb(0,{shade},0)" if word.attribution >= 0 else f"rgb({shade},0,0)"
        coloured.append(text[word.start:word.end], style=f"bold {colour}" if strength > 0.5
                        else colour)
        cursor = word.end
    coloured.append(text[cursor:])
    return coloured


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def read_item(item: str) -> Any:
    """An image file's path as its base64 text (what the API takes); else JSON or the text."""
    path = Path(item)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        if not path.is_file():
            raise typer.BadParameter(f"no image file at {item}", param_hint="INPUT")
        return base64.b64encode(path.read_bytes()).decode()
    return parse_value(item)


def explain(
    model: Annotated[str, typer.Argument(help="A tabular, text or image classification model, "
                                              "a tabular regression model or a forecaster.")],
    item: Annotated[str, typer.Argument(metavar="INPUT", help="A JSON record, a text, an image "
                                                              "file (.png, .jpg, .webp), or a "
                                                              "forecast such as "
                                                              "'{\"horizon\": 3}'.")],
    method: Annotated[str, typer.Option(help="auto, exact, permutation, partition, "
                                             "integrated_gradients or grad_cam.")] = "auto",
    target: Annotated[str | None, typer.Option(help="The label to explain (default: the "
                                                    "predicted one).")] = None,
    log_odds: Annotated[bool, typer.Option("--log-odds", help="Attribute log-odds, not "
                                                              "probability.")] = False,
    samples: Annotated[int | None, typer.Option(min=1, help="Model evaluations to spend.")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="integrated_gradients: steps from "
                                                          "the baseline.")] = None,
    baseline: Annotated[str | None, typer.Option(help="integrated_gradients: pad or mask "
                                                      "(text); mean, black or blur "
                                                      "(images).")] = None,
    heatmap_side: Annotated[int | None, typer.Option(min=1, help="Images: the heat map at most "
                                                                 "this many pixels a side.")] = None,
    overlay: Annotated[Path | None, typer.Option("--overlay", "-o", help="Images: write the heat "
                                                                         "map over the image "
                                                                         "here (PNG).")] = None,
    top: Annotated[int, typer.Option(min=1, help="Features to list (tabular).")] = 10,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Explain one input: features ranked (tabular), words coloured (text), the heat map over
    the image (images, with -o) or forecast steps split into trend, lags and season."""
    value = read_item(item)
    with client(url, api_key) as api:
        result = api.explain(model, [value], method=method, target=target, samples=samples,
                             steps=steps, baseline=baseline, heatmap_side=heatmap_side,
                             output="log_odds" if log_odds else None)
    if as_json:
        print_json(result)
        return
    [explained] = result.explanations
    evaluations = f"{result.usage.get('items', 0)} model evaluations"
    if explained.steps is not None:
        out.print(f"[bold]{model}[/] v{result.version} · {explained.method} · "
                  f"value = trend + base + lags + season · {evaluations}")
        out.print(_steps(explained))
        return
    label = f" · explaining {explained.target!r}" if explained.target else ""
    delta = f" (within {abs(explained.delta):.2g})" if explained.delta is not None else ""
    base = f"base {explained.base_value:.4f} -> " if explained.base_value is not None else ""
    out.print(f"[bold]{model}[/] v{result.version} · {explained.method}{label} · "
              f"{base}{explained.output} {explained.output_value:.4f}{delta} · {evaluations}")
    if explained.overlay_png is not None:
        heat = explained.heatmap or []
        size = f"{len(heat[0]) if heat else 0}x{len(heat)}"
        if overlay is not None:
            overlay.write_bytes(base64.b64decode(explained.overlay_png))
            out.print(f"heat map ({size}) over the image written to {overlay}")
        else:
            out.print(f"heat map {size}; write it over the image with -o FILE.png, or get "
                      "its values with --json")
    elif explained.features is not None:
        out.print(_features(explained, top))
    elif explained.words is not None and isinstance(value, str):
        out.print(_words(value, explained))
