"""``aiaas crypto ...``: encryption at rest, on the data dir (no server; stop it or keep it
quiet while a rotation or migration runs).

- ``status``: the master key in use and each tenant's data key.
- ``rotate-master --new-key-file F [--generate]``: re-wrap every data key under a new master
  key; no data file changes. Then point ``AIAAS_MASTER_KEY_FILE`` at F.
- ``rotate-tenant T``: a new data key for T and every file of T re-sealed with it.
- ``migrate``: seal the tenant files of a data dir written before encryption was on.

All are resumable: after a kill, run the same command again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from aiaas.cli.common import DatabaseUrlOption, DataDirOption
from aiaas.cli.output import err, fail, out

if TYPE_CHECKING:
    from aiaas.training.wiring import Core

app = typer.Typer(help="Encryption at rest: keys, rotation and migration of the data dir.",
                  no_args_is_help=True)


@contextmanager
def _core(data_dir: Path | None, database_url: str | None) -> Iterator[Core]:
    from aiaas.config import load_settings
    from aiaas.errors import KeyProblem
    from aiaas.training import wiring

    try:
        core = wiring.build(load_settings(data_dir=data_dir, database_url=database_url))
    except KeyProblem as exc:
        fail(exc.message)
    try:
        yield core
    finally:
        core.db.dispose()


@contextmanager
def _bar(what: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(what, total=None)
        yield (lambda total: bar.update(task, total=total, completed=0),
               lambda n: bar.advance(task, n))


@app.command()
def status(data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None) -> None:
    """The master key in use and each tenant's data key."""
    with _core(data_dir, database_url) as core:
        sealer = core.vault.sealer
        if sealer is None:
            out.print("encryption at rest is off (AIAAS_ENCRYPT_AT_REST=false)")
            return
        key = sealer.keyring.master
        out.print(f"master key: id {key.key_id} from {key.source}")
        for tenant in sealer.keyring.tenants():
            count = sealer.keyring.key_count(tenant)
            state = " (rotation unfinished: run rotate-tenant again)" if count > 1 else ""
            out.print(f"tenant {tenant}: data key {sealer.keyring.primary_id(tenant)}{state}")


@app.command("rotate-master")
def rotate_master(
    new_key_file: Annotated[Path, typer.Option(help="The new master key (a Tink JSON keyset).")],
    generate: Annotated[bool, typer.Option(help="Create the new key file first.")] = False,
    data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None,
) -> None:
    """Re-wrap every tenant's data key under a new master key (no data file changes)."""
    from aiaas import at_rest
    from aiaas.config import load_settings
    from aiaas.crypto.master import MasterKey
    from aiaas.errors import KeyProblem

    if generate and not new_key_file.exists():
        MasterKey.generate(new_key_file)
        err.print(f"created {new_key_file}: back it up away from the data dir")
    try:
        done, skipped = at_rest.rotate_master(
            load_settings(data_dir=data_dir, database_url=database_url), new_key_file)
    except KeyProblem as exc:
        fail(exc.message)
    out.print(f"re-wrapped {done} data key(s) ({skipped} already under the new key); start the "
              f"server with AIAAS_MASTER_KEY_FILE={new_key_file}")


@app.command("rotate-tenant")
def rotate_tenant(tenant: Annotated[str, typer.Argument(help="The tenant.")],
                  data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None) -> None:
    """Give a tenant a new data key and re-seal its files with it."""
    from aiaas import at_rest

    with _core(data_dir, database_url) as core, _bar(f"re-sealing {tenant}'s files") as (
            start, tick):
        resealed, total = at_rest.rotate_tenant(core, tenant, start=start, tick=tick)
    out.print(f"tenant {tenant}: new data key; {resealed} of {total} file(s) re-sealed")


@app.command()
def migrate(data_dir: DataDirOption = None, database_url: DatabaseUrlOption = None) -> None:
    """Seal the tenant files stored before encryption at rest was on (checked, resumable)."""
    from aiaas import at_rest

    with _core(data_dir, database_url) as core, _bar("sealing plain files") as (start, tick):
        files, artifacts = at_rest.migrate(core, start=start, tick=tick)
    out.print(f"sealed {files} file(s) and {artifacts} model artifact(s)")
