"""``aiaas usage``: metered calls and their totals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Column, Table

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import line, out, print_json, when
from aiaas.cli.prices import money

_AGO = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str | None, option: str) -> datetime | None:
    """ISO 8601 (no timezone means UTC), or an age such as ``90m``, ``24h``, ``7d``."""
    if text is None:
        return None
    ago = _AGO.match(text.strip())
    if ago:
        return datetime.now(UTC) - timedelta(**{_UNITS[ago[2]]: float(ago[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither ISO 8601 nor an age like 24h",
                                 param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def usage(
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    since: Annotated[str | None, typer.Option(
        help="From (inclusive): ISO 8601 (UTC when no zone) or an age like 24h, 7d.")] = None,
    until: Annotated[str | None, typer.Option(help="To (exclusive), same forms as --since.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most records to list.")] = 20,
    tenant: Annotated[str | None, typer.Option(
        help="Another tenant's usage, or '*' for every tenant (admin keys).")] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Print the cost lines (per UTC day, tenant, "
                                      "key and model) as CSV.")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Your tenant's usage, newest first; totals and costs cover the whole range, not just the
    rows shown."""
    if csv:
        with client(url, api_key) as api:
            text = api.usage_csv(model=model, since=parse_time(since, "--since"),
                                 until=parse_time(until, "--until"), tenant=tenant)
        line(text.rstrip("\n"))
        return
    with client(url, api_key) as api:
        report = api.usage(model=model, since=parse_time(since, "--since"),
                           until=parse_time(until, "--until"), limit=limit, tenant=tenant)
    if as_json:
        print_json(report)
        return
    table = Table(Column("time (UTC)", no_wrap=True), Column("model", no_wrap=True), "ver", "surface",
                  Column("key", no_wrap=True), "items", "tokens", "ms", "status", "cost")
    for record in report.records:
        table.add_row(when(record.created_at), record.model, str(record.version or "-"),
                      record.surface, record.key_id, str(record.units.items),
                      str(record.units.prompt_tokens), f"{record.latency_ms:.1f}", record.status,
                      money(record.cost) if record.priced else "free")
    out.print(table)
    if report.costs:
        lines = Table(Column("day (UTC)", no_wrap=True), "tenant", Column("key", no_wrap=True),
                      Column("model", no_wrap=True), "requests", "items", "tokens", "audio s",
                      "cost", title="cost by day, tenant, key and model")
        for cost in report.costs:
            lines.add_row(cost.day.isoformat(), cost.tenant, cost.key_id, cost.model,
                          str(cost.requests), str(cost.items),
                          str(cost.prompt_tokens + cost.completion_tokens),
                          f"{cost.audio_seconds:.1f}", f"{money(cost.cost)} {cost.currency or ''}")
        out.print(lines)
    totals = report.totals
    out.print(f"totals: {totals.requests} requests, {totals.errors} errors, {totals.items} items, "
              f"{totals.prompt_tokens} prompt tokens, mean latency {totals.mean_latency_ms:.1f} ms, "
              f"cost {money(totals.cost)}")
