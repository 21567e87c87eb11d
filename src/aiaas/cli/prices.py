"""``aiaas prices ...``: set and list model prices through the SDK (setting needs an admin key)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import typer
from rich.table import Column, Table

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import out, print_json, when
from aiaas.client import Price

app = typer.Typer(help="Set and list what models cost (versioned: a change never rewrites a "
                       "charged call).", no_args_is_help=True)

RateOption = Annotated[str | None, typer.Option(help="Decimal amount; unset = 0.")]


def money(value: object) -> str:
    if value is None:
        return "-"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def price_table(prices: list[Price]) -> Table:
    table = Table(Column("id", no_wrap=True), Column("model", no_wrap=True), "owner", "ver",
                  "in/1K tok", "out/1K tok", "per item", "per audio min", "per request",
                  Column("from (UTC)", no_wrap=True))
    for price in prices:
        table.add_row(str(price.id), price.model, price.tenant, str(price.version or "all"),
                      money(price.input_per_1k), money(price.output_per_1k),
                      money(price.per_item), money(price.per_audio_minute),
                      money(price.per_request), when(price.effective_from))
    return table


@app.command("set")
def set_price(
    model: Annotated[str, typer.Argument(help="A built-in model, or a model of --tenant.")],
    tenant: Annotated[str | None, typer.Option(help="The tenant whose model it is.")] = None,
    version: Annotated[int | None, typer.Option(min=1, help="Price only this version.")] = None,
    input_per_1k: RateOption = None,
    output_per_1k: RateOption = None,
    per_item: RateOption = None,
    per_audio_minute: RateOption = None,
    per_request: RateOption = None,
    currency: Annotated[str | None, typer.Option(
        help="Must be the server's currency (AIAAS_CURRENCY).")] = None,
    effective_from: Annotated[str | None, typer.Option(
        "--from", help="Start (ISO 8601, UTC when no zone); default now.")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set a model's price from now (or --from) on (admin key)."""
    start = None
    if effective_from is not None:
        try:
            start = datetime.fromisoformat(effective_from)
        except ValueError:
            raise typer.BadParameter(f"{effective_from!r} is not ISO 8601",
                                     param_hint="--from") from None
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
    with client(url, api_key) as api:
        price = api.set_price(model, tenant=tenant, version=version, currency=currency,
                              effective_from=start, input_per_1k=input_per_1k,
                              output_per_1k=output_per_1k, per_item=per_item,
                              per_audio_minute=per_audio_minute, per_request=per_request)
    if as_json:
        print_json(price)
        return
    out.print(price_table([price]))


@app.command("list")
def list_prices(
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Another tenant's (admin keys).")] = None,
    history: Annotated[bool, typer.Option("--history", help="Every price ever set.")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Prices in force and scheduled, of the built-in models and your tenant's own."""
    with client(url, api_key) as api:
        prices = api.list_prices(model=model, tenant=tenant, history=history)
    if as_json:
        print_json(prices)
        return
    out.print(price_table(prices))
