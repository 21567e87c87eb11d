"""``aiaas explain MODEL INPUT``: why a model answered as it did.

Tabular models print their features ranked by attribution; text models print the text with each
word coloured by how much it pushed towards (green) or away from (red) the explained label;
forecasters print a row per step: its value, trend, base value, and what the lags and the
calendar (season) added.
"""

from __future__ import annotations

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


def explain(
    model: Annotated[str, typer.Argument(help="A tabular or text classification model, a "
                                              "tabular regression model or a forecaster.")],
    item: Annotated[str, typer.Argument(metavar="INPUT", help="A JSON record, a text, or a "
                                                              "forecast such as "
                                                              "'{\"horizon\": 3}'.")],
    method: Annotated[str, typer.Option(help="auto, exact, permutation or partition.")] = "auto",
    target: Annotated[str | None, typer.Option(help="The label to explain (default: the "
                                                    "predicted one).")] = None,
    log_odds: Annotated[bool, typer.Option("--log-odds", help="Attribute log-odds, not "
                                                              "probability.")] = False,
    samples: Annotated[int | None, typer.Option(min=1, help="Model evaluations to spend.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Features to list (tabular).")] = 10,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Explain one input: features ranked (tabular), words coloured (text) or forecast steps
    split into trend, lags and season."""
    value = parse_value(item)
    with client(url, api_key) as api:
        result = api.explain(model, [value], method=method, target=target, samples=samples,
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
    out.print(f"[bold]{model}[/] v{result.version} · {explained.method}{label} · "
              f"base {explained.base_value:.4f} -> {explained.output} "
              f"{explained.output_value:.4f} · {evaluations}")
    if explained.features is not None:
        out.print(_features(explained, top))
    elif explained.words is not None and isinstance(value, str):
        out.print(_words(value, explained))
