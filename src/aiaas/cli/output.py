"""Where the CLI writes: results on stdout (tables, or only JSON with ``--json``), the rest on stderr."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

# Piped output is not squeezed into Rich's default 80 columns (ids must stay whole).
_PIPE_WIDTH = None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160
out = Console(highlight=False, width=_PIPE_WIDTH)
err = Console(stderr=True, highlight=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON, and nothing else, to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, default=_jsonable, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def line(text: str) -> None:
    """A plain line on stdout, never wrapped or styled (for secrets and values to copy)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """A hint or progress message on stderr (keeps stdout clean for results)."""
    err.print(text, style="dim")


def report(message: str) -> None:
    """Print ``error: message`` as one line on stderr."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Report ``message`` and exit with ``code``."""
    report(message)
    raise typer.Exit(code)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def size(n: int) -> str:
    amount = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{n} B"


def number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def pairs(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={number(v)}" for k, v in mapping.items()) or "-"
