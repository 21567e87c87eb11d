"""``python -m aiaas``: the CLI."""

from aiaas.cli.main import app

app()
