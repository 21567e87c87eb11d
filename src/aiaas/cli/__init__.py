"""The ``aiaas`` command line (Typer + Rich); the entry point is ``aiaas.cli.main:app``."""
