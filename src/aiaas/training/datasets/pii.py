"""PII in uploaded tables: a report per string column, and redaction before the table is stored.

``pii=report`` counts, per string column (text or categorical, not the label or split column),
the rows holding PII and the entities by type; ``pii=redact`` also replaces each value's PII with
typed placeholders (``<PERSON_1>``, numbered within the row) and the table is stored redacted,
as CSV: the values never reach the dataset's directory. The counts go into the dataset's
statistics (``stats.pii``); values never do.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any, Literal, Protocol

from aiaas.errors import Invalid
from aiaas.privacy.entities import Entity
from aiaas.privacy.redaction import Pseudonyms
from aiaas.training.datasets.parsing import RawTable

PiiMode = Literal["report", "redact"]
MODES = ("report", "redact")
BATCH = 64


class TextAnalyzer(Protocol):
    def analyze(self, texts: list[str], entities: frozenset[str] | None = None
                ) -> list[list[Entity]]: ...


def check_mode(value: str | None) -> PiiMode | None:
    if value is None or value == "off":
        return None
    if value not in MODES:
        raise Invalid(f"pii must be report, redact or off, not {value!r}",
                      details={"field": "pii"})
    return value  # type: ignore[return-value]


def scan(raw: RawTable, columns: dict[str, str], skip: set[str], analyzer: TextAnalyzer,
         mode: PiiMode) -> dict[str, Any]:
    """The report of ``raw``'s string columns; with ``redact``, their cells are replaced in
    ``raw`` itself."""
    scanned = [name for name, kind in columns.items() if kind in ("text", "label")
               and name not in skip]
    report: dict[str, Any] = {"mode": mode, "columns": {}}
    row_pseudonyms = [Pseudonyms() for _ in range(raw.rows)] if mode == "redact" else []
    rows_with_any: set[int] = set()
    for name in scanned:
        cells = raw.cells[raw.names.index(name)]
        rows_with, by_type = 0, Counter[str]()
        present = [i for i, cell in enumerate(cells) if cell]
        for start in range(0, len(present), BATCH):
            batch = present[start:start + BATCH]
            found = analyzer.analyze([str(cells[i]) for i in batch])
            for i, entities in zip(batch, found, strict=True):
                if not entities:
                    continue
                rows_with += 1
                rows_with_any.add(i)
                by_type.update(e.type for e in entities)
                if mode == "redact":
                    cells[i] = row_pseudonyms[i].redact(str(cells[i]), entities)
        report["columns"][name] = {"rows_with_pii": rows_with,
                                   "entities": dict(sorted(by_type.items()))}
    report["rows_with_pii"] = len(rows_with_any)
    return report


def write_csv(raw: RawTable, path: Path) -> None:
    """``raw`` as a CSV file (missing cells empty), parsed back to the same table."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(raw.names)
        for i in range(raw.rows):
            writer.writerow(["" if column[i] is None else column[i] for column in raw.cells])
