"""``aiaas privacy ...``: try the PII analyzer, set the policies of tenants, keys and models,
and build the name model up front."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aiaas.cli.common import ApiKeyOption, JsonOption, UrlOption, client
from aiaas.cli.output import err, fail, out, print_json
from aiaas.client import PrivacyPolicy

app = typer.Typer(help="PII detection and redaction: off, detect, redact, block or "
                       "pseudonymize per tenant, key or a tenant's model.",
                  no_args_is_help=True)

TenantOption = Annotated[str | None, typer.Option(help="The tenant.")]
KeyOption = Annotated[str | None, typer.Option("--key", help="A key id (aiaas keys list).")]
ModelOption = Annotated[str | None, typer.Option(help="Only the tenant's calls to this model.")]
EntitiesOption = Annotated[list[str] | None, typer.Option(
    "--entity", help="Only this entity type (repeat for more; default: all).")]


@app.command()
def analyze(texts: Annotated[list[str], typer.Argument(help="One or more texts.")],
            entity: EntitiesOption = None, url: UrlOption = None, api_key: ApiKeyOption = None,
            as_json: JsonOption = False) -> None:
    """Show the PII the server finds in TEXT and the text redacted (nothing is stored)."""
    with client(url, api_key) as api:
        results = api.analyze_pii(texts, entities=entity)
    if as_json:
        print_json(results)
        return
    for text, result in zip(texts, results, strict=True):
        table = Table("type", "text", "span", "score")
        for found in result.entities:
            table.add_row(found.type, escape(text[found.start:found.end]),
                          f"{found.start}-{found.end}", f"{found.score:.2f}")
        out.print(table if result.entities else "no PII found")
        out.print(escape(result.redacted), highlight=False)


def _policy_table(policies: list[PrivacyPolicy]) -> Table:
    table = Table("tenant", "key", "model", "mode", "entities", "source")
    for item in policies:
        table.add_row(item.tenant, item.key_id or "(all)", item.model or "(all)", item.mode,
                      ", ".join(item.entities) if item.entities else "(all)", item.source)
    return table


@app.command("set")
def set_policy(
    mode: Annotated[str, typer.Argument(help="off, detect, redact, block or pseudonymize; "
                                             "'unset' removes the policy.")],
    tenant: TenantOption = None, key: KeyOption = None, model: ModelOption = None,
    entity: EntitiesOption = None, url: UrlOption = None, api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set the PII policy of a tenant, a tenant's model, or a key (admin key)."""
    if (tenant is None) == (key is None):
        fail("give --tenant (optionally with --model) or --key")
    with client(url, api_key) as api:
        policy = api.set_privacy_policy(None if mode == "unset" else mode, tenant=tenant,
                                        key_id=key, model=model, entities=entity)
    if as_json:
        print_json(policy)
        return
    out.print(_policy_table([policy]))


@app.command()
def show(tenant: Annotated[str, typer.Argument(help="The tenant.")], url: UrlOption = None,
         api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """A tenant's PII policies: its own (or the server default), then per model and per key."""
    with client(url, api_key) as api:
        policies = api.get_privacy_policies(tenant)
    if as_json:
        print_json(policies)
        return
    out.print(_policy_table(policies))


@app.command()
def build() -> None:
    """Build the PII name model now (once per installation, offline, a few minutes on two
    cores); a server builds it in the background when it is missing."""
    from aiaas.config import load_settings
    from aiaas.privacy import ner_model
    from aiaas.privacy.service import model_dir

    target = model_dir(load_settings())
    if (target / "config.json").exists():
        out.print(f"the PII name model is built: {target}")
        return
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("building the PII name model", total=1.0)

        def progress(fraction: float, what: str) -> None:
            bar.update(task, completed=fraction, description=what)

        ner_model.ensure(target.parent, progress)
    out.print(f"built the PII name model: {target}")
