"""What the commands share: the app class that turns known errors into one line, and options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from aiaas.cli.output import err, report
from aiaas.client import AiaasAPIError, Client
from aiaas.errors import AiaasError

UrlOption = Annotated[str | None, typer.Option(
    "--url", envvar="AIAAS_URL", show_envvar=True,
    help="Server URL (default: http://127.0.0.1:8000).")]
ApiKeyOption = Annotated[str | None, typer.Option(
    "--api-key", envvar="AIAAS_API_KEY", show_envvar=True, help="API key (aiaas-...).")]
DataDirOption = Annotated[Path | None, typer.Option(
    "--data-dir", help="Data dir (env AIAAS_DATA_DIR; default ~/.aiaas).")]
DatabaseUrlOption = Annotated[str | None, typer.Option(
    "--database-url", help="SQLAlchemy URL (env AIAAS_DATABASE_URL; default SQLite in the data dir).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON, and only that.")]


class App(typer.Typer):
    """A Typer app whose expected failures end in one ``error: ...`` line and exit status 1.

    Server errors show their code, HTTP status and request id; bugs still get a traceback.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except AiaasAPIError as exc:
            message = str(exc)
        except AiaasError as exc:
            message = f"{exc.code}: {exc.message}"
        except (OSError, ValueError) as exc:
            message = str(exc) or type(exc).__name__
        except KeyboardInterrupt:
            err.print("aborted")
            raise SystemExit(130) from None
        report(message)
        raise SystemExit(1)


def client(url: str | None, api_key: str | None) -> Client:
    """An SDK client; what is not given comes from ``AIAAS_URL`` / ``AIAAS_API_KEY``."""
    return Client(url, api_key)
