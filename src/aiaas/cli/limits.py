"""``aiaas limits ...``: rate and concurrency limits of tenants, keys and a tenant's models,
through the SDK."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Column, Table

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import fail, out, print_json, when
from aiaas.client import Limits

app = typer.Typer(help="Rate and concurrency limits per tenant, key or a tenant's model; "
                       "a call over one gets 429 rate_limited with Retry-After.",
                  no_args_is_help=True)

TenantOption = Annotated[str | None, typer.Option(help="The tenant.")]
KeyOption = Annotated[str | None, typer.Option("--key", help="A key id (aiaas keys list).")]
ModelOption = Annotated[str | None, typer.Option(help="Only the tenant's calls to this model.")]


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def limits_table(limits: list[Limits]) -> Table:
    table = Table("tenant", Column("key", no_wrap=True), "model", "requests/min", "tokens/min",
                  "items/min", "audio s/min", "concurrent", Column("updated", no_wrap=True))
    for item in limits:
        table.add_row(item.tenant, item.key_id or "(all)", item.model or "(all)",
                      _number(item.requests_per_minute), _number(item.tokens_per_minute),
                      _number(item.items_per_minute), _number(item.audio_seconds_per_minute),
                      _number(item.concurrent_requests), when(item.updated_at))
    return table


def _subject(tenant: str | None, key: str | None) -> None:
    if (tenant is None) == (key is None):
        fail("give --tenant (optionally with --model) or --key")


@app.command("set")
def set_limits(
    tenant: TenantOption = None,
    key: KeyOption = None,
    model: ModelOption = None,
    rpm: Annotated[int | None, typer.Option("--rpm", "--requests-per-minute", min=1,
                                            max=1_000_000_000, help="Requests per minute.")] = None,
    tpm: Annotated[int | None, typer.Option("--tpm", "--tokens-per-minute", min=1,
                                            max=1_000_000_000, help="Prompt + completion tokens "
                                            "per minute (a generation reserves prompt + "
                                            "max_tokens).")] = None,
    ipm: Annotated[int | None, typer.Option("--ipm", "--items-per-minute", min=1,
                                            max=1_000_000_000, help="Inputs per minute.")] = None,
    audio: Annotated[int | None, typer.Option("--audio-spm", "--audio-seconds-per-minute", min=1,
                                              max=1_000_000_000,
                                              help="Seconds of audio per minute.")] = None,
    concurrent: Annotated[int | None, typer.Option(min=1, max=1_000_000_000,
                                                   help="Calls running at once.")] = None,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set (replace) the limits of a tenant, a tenant's model, or a key (admin key); a limit
    not given is none. A key's or model's limit cannot exceed its tenant's."""
    _subject(tenant, key)
    with client(url, api_key) as api:
        limits = api.set_limits(tenant=tenant, key_id=key, model=model, requests_per_minute=rpm,
                                tokens_per_minute=tpm, items_per_minute=ipm,
                                audio_seconds_per_minute=audio, concurrent_requests=concurrent)
    if as_json:
        print_json(limits)
        return
    out.print(limits_table([limits]))


@app.command()
def show(tenant: TenantOption = None, key: KeyOption = None, url: UrlOption = None,
         api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """A tenant's limits (its own, then per model and per key), or one key's."""
    _subject(tenant, key)
    with client(url, api_key) as api:
        limits = api.get_limits(tenant=tenant, key_id=key)
    if as_json:
        print_json(limits)
        return
    out.print(limits_table(limits))


@app.command()
def clear(tenant: TenantOption = None, key: KeyOption = None, model: ModelOption = None,
          url: UrlOption = None, api_key: ApiKeyOption = None) -> None:
    """Remove the limits of a tenant, a tenant's model, or a key (admin key)."""
    _subject(tenant, key)
    with client(url, api_key) as api:
        api.clear_limits(tenant=tenant, key_id=key, model=model)
    out.print(f"cleared the limits of {f'key {key}' if key else f'tenant {tenant}'}"
              f"{f' on model {model}' if model else ''}")
