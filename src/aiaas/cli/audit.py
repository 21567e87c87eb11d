"""``aiaas audit ...``: read the audit log through the SDK, and verify its hash chain.

``list`` talks to a server (a key with ``audit:read`` reads its tenant's records, an admin key
everyone's). ``verify`` reads the database itself by default (the data dir, or
``--database-url``), with no server and no key: an operator who suspects tampering should not
have to trust the server process to check. ``--server`` asks a server instead (admin key).
A broken chain exits with status 1 and names the first broken record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from aiaas.cli.common import (
    ApiKeyOption,
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    UrlOption,
    client,
)
from aiaas.cli.output import fail, out, print_json, when
from aiaas.client import AuditRecord, AuditVerification

if TYPE_CHECKING:
    from aiaas.audit import Verification

app = typer.Typer(help="Read the audit log of changes, and verify it was not tampered with.",
                  no_args_is_help=True)


def _changes(record: AuditRecord) -> str:
    before, after = record.before or {}, record.after or {}
    parts = []
    for name in dict.fromkeys([*before, *after]):
        if name in before and name in after:
            parts.append(f"{name}: {_short(before[name])} -> {_short(after[name])}")
        else:
            parts.append(f"{name}={_short(after.get(name, before.get(name)))}")
    return ", ".join(parts)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def audit_table(records: list[AuditRecord]) -> Table:
    table = Table(Column("id", no_wrap=True), Column("when (UTC)", no_wrap=True), "tenant",
                  Column("key", no_wrap=True), Column("action", no_wrap=True), "target",
                  "changes", "client")
    for record in records:
        target = f"{record.target_type} {record.target_id}"
        if record.target_tenant not in (None, record.tenant):
            target += f" ({record.target_tenant})"
        table.add_row(str(record.id), when(record.created_at), record.tenant, record.key_id,
                      record.action, target, _changes(record), record.client or "-")
    return table


@app.command("list")
def list_records(
    action: Annotated[str | None, typer.Option(help="e.g. key.create, model.register.")] = None,
    target_type: Annotated[str | None, typer.Option(help="e.g. key, model, version.")] = None,
    target_id: Annotated[str | None, typer.Option(help="The target's id or name.")] = None,
    key_id: Annotated[str | None, typer.Option(help="Records of this acting key.")] = None,
    tenant: Annotated[str | None, typer.Option(
        help="Records made by or about this tenant (admin keys).")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601, inclusive (UTC if no zone).")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601, exclusive.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Records per page.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="A page's `next`, for the page after.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Follow every page.")] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Audit records, newest first: who changed what, when and from where."""
    filters: dict[str, Any] = {"action": action, "target_type": target_type,
                               "target_id": target_id, "key_id": key_id, "tenant": tenant,
                               "since": since, "until": until, "limit": limit}
    with client(url, api_key) as api:
        if every:
            records, next_cursor = list(api.iter_audit(**filters)), None
        else:
            page = api.list_audit(**filters, cursor=cursor)
            records, next_cursor = page.data, page.next
    if as_json:
        print_json({"data": records, "next": next_cursor})
        return
    out.print(audit_table(records))
    if next_cursor is not None:
        out.print(f"more: --cursor {next_cursor}", style="dim")


def _offline(data_dir: Path | None, database_url: str | None) -> Verification:
    from sqlalchemy import inspect

    from aiaas.audit import AuditLog
    from aiaas.auth.principal import Principal
    from aiaas.config import load_settings
    from aiaas.db.engine import Database

    settings = load_settings(data_dir=data_dir, database_url=database_url)
    if settings.database_url is None and not (settings.data_dir / "aiaas.db").is_file():
        fail(f"no database in {settings.data_dir} (give --data-dir or --database-url)")
    db = Database(settings.sqlalchemy_url)
    try:
        if not inspect(db.engine).has_table("audit_head"):
            fail("this database has no audit log yet (start the server once to migrate it)")
        return AuditLog(db).verify(Principal.system())
    finally:
        db.dispose()


@app.command()
def verify(
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    server: Annotated[bool, typer.Option(
        "--server", help="Ask the server at --url (admin key) instead of reading the database.")
    ] = False,
    url: UrlOption = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-compute the audit log's hash chain; exit 1 naming the first broken record."""
    if server:
        with client(url, api_key) as api:
            result = api.verify_audit()
    else:
        found = _offline(data_dir, database_url)
        result = AuditVerification(ok=found.ok, checked=found.checked,
                                   first_broken_id=found.first_broken_id, reason=found.reason,
                                   head_hash=found.head_hash)
    if as_json:
        print_json(result)
    elif result.ok:
        out.print(f"audit log intact: {result.checked} records checked; head hash "
                  f"{result.head_hash}", soft_wrap=True)
    if not result.ok:
        where = f"record {result.first_broken_id}" if result.first_broken_id else "the head"
        fail(f"audit log broken at {where} ({result.reason}); {result.checked} records before "
             "it are intact")
