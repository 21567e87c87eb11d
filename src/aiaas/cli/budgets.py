"""``aiaas budgets ...``: spend budgets and unit quotas of tenants and keys, through the SDK."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Column, Table

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import out, print_json, when
from aiaas.cli.prices import money
from aiaas.client import Budget

app = typer.Typer(help="Spend budgets and unit quotas per tenant or key, per day or month (UTC).",
                  no_args_is_help=True)

BudgetId = Annotated[str, typer.Argument(help="The budget's id (aiaas budgets list).")]


def _limit(budget: Budget, kind: str) -> str:
    limit = getattr(budget, kind)
    if limit is None:
        return "-"
    return f"{money(getattr(budget.spent, kind))} / {money(limit)}"


def budget_table(budgets: list[Budget]) -> Table:
    table = Table(Column("id", no_wrap=True), "tenant", Column("key", no_wrap=True), "period",
                  "spent / amount", "tokens", "items", "audio s", "soft",
                  Column("resets (UTC)", no_wrap=True))
    for budget in budgets:
        table.add_row(budget.id, budget.tenant, budget.key_id or "(all)", budget.period,
                      f"{_limit(budget, 'amount')} {budget.currency}" if budget.amount is not None
                      else "-", _limit(budget, "tokens"), _limit(budget, "items"),
                      _limit(budget, "audio_seconds"), f"{budget.soft_threshold:.0%}",
                      when(budget.period_end))
    return table


@app.command("set")
def set_budget(
    period: Annotated[str, typer.Option(help="day or month (calendar, UTC).")],
    tenant: Annotated[str | None, typer.Option(help="The tenant (default: the key's, else "
                                               "yours).")] = None,
    key: Annotated[str | None, typer.Option("--key", help="A budget of this key id only.")] = None,
    amount: Annotated[str | None, typer.Option(help="Spend limit (decimal, server's currency).")] = None,
    tokens: Annotated[int | None, typer.Option(help="Prompt plus completion tokens.")] = None,
    items: Annotated[int | None, typer.Option(help="Inputs (texts, images, rows, clips).")] = None,
    audio_seconds: Annotated[float | None, typer.Option(help="Seconds of audio.")] = None,
    soft_threshold: Annotated[float | None, typer.Option(
        help="Fraction of each limit past which a warning is logged (default 0.8).")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set or change a budget (admin key); calls that could pass a limit get 429 quota_exceeded."""
    with client(url, api_key) as api:
        budget = api.set_budget(period, tenant=tenant, key_id=key, amount=amount, tokens=tokens,
                                items=items, audio_seconds=audio_seconds,
                                soft_threshold=soft_threshold)
    if as_json:
        print_json(budget)
        return
    out.print(budget_table([budget]))


@app.command("list")
def list_budgets(
    tenant: Annotated[str | None, typer.Option(help="Another tenant's (admin keys).")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only this key's.")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Your tenant's budgets with what is spent this period."""
    with client(url, api_key) as api:
        budgets = api.list_budgets(tenant=tenant, key_id=key)
    if as_json:
        print_json(budgets)
        return
    out.print(budget_table(budgets))


@app.command()
def show(budget_id: BudgetId, url: UrlOption = None, api_key: ApiKeyOption = None,
         as_json: JsonOption = False) -> None:
    """One budget: spent, in flight and remaining this period."""
    with client(url, api_key) as api:
        budget = api.get_budget(budget_id)
    if as_json:
        print_json(budget)
        return
    out.print(budget_table([budget]))
    left = ", ".join(f"{kind} {money(value)}" for kind, value in budget.remaining
                     if value is not None)
    out.print(f"remaining this {budget.period}: {left}")


@app.command()
def delete(budget_id: BudgetId, url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Remove a budget (admin key)."""
    with client(url, api_key) as api:
        api.delete_budget(budget_id)
    out.print(f"deleted budget {budget_id}")
