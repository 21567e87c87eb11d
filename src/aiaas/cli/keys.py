"""``aiaas keys ...``: API keys made, listed and revoked straight on the data dir (no server).

Whoever can read the data dir (or the database URL) owns the server, so these commands act as
the system (``Principal.system``) through the same key service the admin routes use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Column, Table

from aiaas.cli.common import DatabaseUrlOption, DataDirOption, JsonOption
from aiaas.cli.output import line, note, out, print_json, when

if TYPE_CHECKING:
    from aiaas.auth.keys import KeyInfo, KeyService
    from aiaas.auth.principal import Principal

app = typer.Typer(help="Create, list and revoke API keys on the data dir; no server needed.",
                  no_args_is_help=True)


@contextmanager
def key_service(data_dir: Path | None, database_url: str | None
                ) -> Iterator[tuple[KeyService, Principal]]:
    """The key service on the configured database (created and migrated when new), and the
    system principal these commands act as."""
    from aiaas.auth.principal import Principal
    from aiaas.config import load_settings
    from aiaas.logs import client_address
    from aiaas.services import Services

    client_address.set("cli")  # what the audit log records as the client of these changes
    services = Services.build(load_settings(data_dir=data_dir, database_url=database_url))
    try:
        yield services.keys, Principal.system()
    finally:
        services.db.dispose()


def _table(keys: list[KeyInfo], *, revoked: bool = False) -> Table:
    table = Table(Column("id", no_wrap=True), "name", "tenant", "scopes", Column("created", no_wrap=True),
                  "expires")
    if revoked:
        table.add_column("revoked")
    for key in keys:
        row = [key.id, key.name, key.tenant, ", ".join(key.scopes), when(key.created_at),
               when(key.expires_at)]
        table.add_row(*row, *([when(key.revoked_at)] if revoked else []))
    return table


@app.command()
def create(
    name: Annotated[str, typer.Option("--name", help="What the key is for.")],
    tenant: Annotated[str, typer.Option(help="Tenant the key acts for.")] = "default",
    admin: Annotated[bool, typer.Option("--admin", help="Add the admin scope.")] = False,
    scope: Annotated[list[str] | None, typer.Option(
        "--scope", "--scopes", help="Scopes, repeatable or comma-separated (default: models:read, "
        "models:write, predict).")] = None,
    expires_in_days: Annotated[float | None, typer.Option(min=0.0, help="Expire after D days.")] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key. The secret is printed once, as the last line of output; only its hash is kept."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with key_service(data_dir, database_url) as (keys, system):
        scopes = [part for value in scope or [] for part in value.replace(",", " ").split()]
        created = keys.create(system, name=name, tenant=tenant, scopes=scopes or None, admin=admin,
                              expires_at=expires_at)
    if as_json:
        print_json({**dataclasses.asdict(created.info), "secret": created.secret})
        return
    out.print(_table([created.info]))
    note("The secret is shown only now; store it safely:")
    line(created.secret)


@app.command("list")
def list_keys(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List keys (never their secrets)."""
    with key_service(data_dir, database_url) as (keys, system):
        found = keys.list(system, tenant=tenant, include_revoked=show_all)
    if as_json:
        print_json(found)
        return
    out.print(_table(found, revoked=show_all))


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (the 16 hex digits after 'aiaas-').")],
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key: the server refuses it (401) from the next request on."""
    with key_service(data_dir, database_url) as (keys, system):
        revoked = keys.revoke(system, key_id)
    if as_json:
        print_json(revoked)
        return
    out.print(f"revoked key {revoked.id} ({revoked.name!r}, tenant {revoked.tenant}) "
              f"at {when(revoked.revoked_at)}")
