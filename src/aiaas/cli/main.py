"""``aiaas``: run the server, manage keys offline, and use a server through the SDK.

Remote commands take ``--url``/``--api-key`` (or ``AIAAS_URL``/``AIAAS_API_KEY``); every command
takes ``--json``. Failures print one ``error: ...`` line on stderr and exit non-zero.

Model families: ``chat`` (streamed, interactive or one-shot), ``transcribe``, ``embed``,
``classify``; ``predict`` sends raw inputs to any model. Training: ``train``, ``jobs``,
``datasets``, ``evaluate``, and ``worker`` to run one more training worker.
"""

from __future__ import annotations

from typing import Annotated

import typer

from aiaas import __version__
from aiaas.cli import (
    audit,
    budgets,
    crypto,
    datasets,
    jobs,
    keys,
    limits,
    models,
    prices,
    privacy,
    tenants,
)
from aiaas.cli.chat import chat
from aiaas.cli.classify import classify
from aiaas.cli.common import (
    ApiKeyOption,
    App,
    DatabaseUrlOption,
    DataDirOption,
    JsonOption,
    UrlOption,
    client,
)
from aiaas.cli.embed import embed
from aiaas.cli.evaluate import evaluate
from aiaas.cli.explain import explain
from aiaas.cli.output import err, fail, out, print_json
from aiaas.cli.predict import predict
from aiaas.cli.train import train
from aiaas.cli.transcribe import transcribe
from aiaas.cli.usage import usage
from aiaas.cli.worker import worker

app = App(name="aiaas", help="Self-hosted AI models as a service.", no_args_is_help=True,
          pretty_exceptions_show_locals=False)
app.add_typer(keys.app, name="keys")
app.add_typer(models.app, name="models")
app.add_typer(jobs.app, name="jobs")
app.add_typer(datasets.app, name="datasets")
app.add_typer(prices.app, name="prices")
app.add_typer(budgets.app, name="budgets")
app.add_typer(tenants.app, name="tenants")
app.add_typer(limits.app, name="limits")
app.add_typer(audit.app, name="audit")
app.add_typer(privacy.app, name="privacy")
app.add_typer(crypto.app, name="crypto")
app.command()(predict)
app.command()(chat)
app.command()(transcribe)
app.command()(embed)
app.command()(classify)
app.command()(explain)
app.command()(usage)
app.command()(train)
app.command()(evaluate)
app.command()(worker)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (env AIAAS_HOST; default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (env AIAAS_PORT; default 8000).")] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseUrlOption = None,
    preload: Annotated[list[str] | None, typer.Option(
        help="Load this model at start (repeatable).")] = None,
    ray_address: Annotated[str | None, typer.Option(
        help="Run models on this Ray cluster (auto, host:6379 or ray://host:10001; env "
        "AIAAS_RAY_ADDRESS); needs the ray extra.")] = None,
) -> None:
    """Run the API server (until interrupted; shuts down gracefully within AIAAS_SHUTDOWN_GRACE_S,
    default 30 s: streams still open then end with an error event)."""
    from aiaas.api.app import create_app
    from aiaas.api.connections import uvicorn_options
    from aiaas.cli import server
    from aiaas.config import load_settings
    from aiaas.errors import NotStarting
    from aiaas.logs import configure

    settings = load_settings(data_dir=data_dir, host=host, port=port, database_url=database_url,
                             preload=preload or None, ray_address=ray_address)
    configure(settings.log_level, json_lines=settings.log_json)
    try:
        api = create_app(settings)
    except NotStarting as exc:
        fail(f"not starting: {exc.message}")
    base = f"http://{settings.host}:{settings.port}"
    err.print(f"aiaas {__version__} serving on {base} (data dir {settings.data_dir}); console at "
              f"{base}/ ; create a key with: aiaas keys create --name me --admin --data-dir "
              f"{settings.data_dir}", soft_wrap=True)
    link = api.state.services.sessions.first_admin_link()
    if link is not None:
        err.print(f"First sign-in (works once, for one hour; makes the first admin key): "
                  f"{base}/sign-in/first-admin#token={link}", soft_wrap=True)
    server.run(api, host=settings.host, port=settings.port,
               grace_s=settings.shutdown_grace_s, **uvicorn_options(settings))


@app.command()
def whoami(url: UrlOption = None, api_key: ApiKeyOption = None, as_json: JsonOption = False) -> None:
    """The tenant, key id and scopes of your API key."""
    with client(url, api_key) as api:
        me = api.me()
    if as_json:
        print_json(me)
        return
    out.print(f"tenant {me.tenant}, key {me.key_id}, scopes: {' '.join(me.scopes)}")


@app.command()
def version(as_json: JsonOption = False) -> None:
    """The CLI and SDK version."""
    if as_json:
        print_json({"version": __version__})
        return
    out.print(f"aiaas {__version__}")
