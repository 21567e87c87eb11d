"""The compile cache: ``<data dir>/compiled/<artifact sha256>-<kind>/`` holding the built files
and ``report.json`` (what was compared, the measured error, and whether it passed).

A build is written to a temporary sibling and renamed into place, so a crash mid-export leaves no
half-written entry. A failed verification is cached too (its report says why), so a model that
cannot be exported is not re-exported at every load.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

REPORT = "report.json"


class Keeper(Protocol):
    """Keeps a root's entries elsewhere too: the compiled forms of a sealed tenant's model are
    built in memory-backed space and kept sealed in the data dir, so a restart decrypts them
    instead of exporting again."""

    def restore(self, name: str, target: Path) -> bool: ...

    def keep(self, name: str, source: Path) -> None: ...

    def prepare(self) -> None:
        """Called before a build, which may read files a working copy deferred."""


_KEEPERS: dict[Path, Keeper] = {}


def keep_with(root: Path, keeper: Keeper) -> None:
    """Entries under ``root`` are restored from and kept by ``keeper`` (``cached``)."""
    _KEEPERS[root] = keeper


@dataclass(frozen=True)
class Compiled:
    directory: Path
    report: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.report.get("ok"))

    @property
    def reason(self) -> str:
        return str(self.report.get("reason", ""))


def cached(root: Path, digest: str, kind: str,
           build: Callable[[Path], dict[str, Any]]) -> Compiled:
    """The cached entry for ``digest``/``kind``, building it with ``build(directory) -> report``
    when missing. ``build`` writes its files into ``directory`` and returns a report with at
    least ``ok`` and, when not ok, ``reason``; an exception counts as a failed build whose reason
    is the exception (and is not cached, since it may be transient)."""
    final = root / f"{digest}-{kind}"
    if (final / REPORT).is_file():
        return Compiled(final, json.loads((final / REPORT).read_text()))
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{digest}-{kind}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    keeper = _KEEPERS.get(root)
    try:
        restored = keeper is not None and keeper.restore(final.name, staging)
        if not restored:
            if keeper is not None:
                keeper.prepare()
            report = build(staging)
            (staging / REPORT).write_text(json.dumps(report, indent=2))
        try:
            staging.rename(final)
        except OSError:
            if not (final / REPORT).is_file():
                raise
        if keeper is not None and not restored:
            keeper.keep(final.name, final)
        return Compiled(final, json.loads((final / REPORT).read_text()))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
