"""``aiaas tenants ...``: tenants as records, through the SDK (admin keys)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Column, Table

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import out, print_json, when
from aiaas.client import Tenant

app = typer.Typer(help="Create, list, show, rename, disable and enable tenants (admin keys).",
                  no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The tenant's name, as keys and models name it.")]


def tenant_table(tenants: list[Tenant]) -> Table:
    table = Table(Column("name", no_wrap=True), "display name", "status",
                  Column("created", no_wrap=True), Column("updated", no_wrap=True))
    for tenant in tenants:
        table.add_row(tenant.name, tenant.display_name, "disabled" if tenant.disabled else "enabled",
                      when(tenant.created_at), when(tenant.updated_at))
    return table


def _show(tenant: Tenant, as_json: bool) -> None:
    if as_json:
        print_json(tenant)
    else:
        out.print(tenant_table([tenant]))


@app.command()
def create(name: Name, display_name: Annotated[str, typer.Option(help="A readable name.")] = "",
           url: UrlOption = None, api_key: ApiKeyOption = None,
           as_json: JsonOption = False) -> None:
    """Record a new tenant (creating a key for a new tenant also records it)."""
    with client(url, api_key) as api:
        _show(api.create_tenant(name, display_name=display_name), as_json)


@app.command("list")
def list_tenants(url: UrlOption = None, api_key: ApiKeyOption = None,
                 as_json: JsonOption = False) -> None:
    """Every tenant."""
    with client(url, api_key) as api:
        tenants = api.list_tenants()
    if as_json:
        print_json(tenants)
        return
    out.print(tenant_table(tenants))


@app.command()
def show(name: Name, url: UrlOption = None, api_key: ApiKeyOption = None,
         as_json: JsonOption = False) -> None:
    """One tenant (a non-admin key: its own)."""
    with client(url, api_key) as api:
        _show(api.get_tenant(name), as_json)


@app.command()
def update(name: Name,
           display_name: Annotated[str | None, typer.Option(help="A readable name.")] = None,
           url: UrlOption = None, api_key: ApiKeyOption = None,
           as_json: JsonOption = False) -> None:
    """Change a tenant's display name."""
    with client(url, api_key) as api:
        _show(api.update_tenant(name, display_name=display_name), as_json)


@app.command()
def disable(name: Name, url: UrlOption = None, api_key: ApiKeyOption = None,
            as_json: JsonOption = False) -> None:
    """Refuse the tenant's keys (403 tenant_disabled) until it is enabled; nothing is deleted."""
    with client(url, api_key) as api:
        _show(api.disable_tenant(name), as_json)


@app.command()
def enable(name: Name, url: UrlOption = None, api_key: ApiKeyOption = None,
           as_json: JsonOption = False) -> None:
    """Let a disabled tenant's keys in again."""
    with client(url, api_key) as api:
        _show(api.enable_tenant(name), as_json)
