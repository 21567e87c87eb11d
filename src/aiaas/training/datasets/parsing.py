"""Read an uploaded CSV or JSONL file into columns of text cells, remembering each row's line.

Nothing is typed here (``validation`` does that); this layer finds what is broken in the file
itself and says where: not UTF-8, a malformed CSV row or a row with the wrong number of fields,
a line that is not a JSON object, no header, an empty or duplicate column name, and the caps on
line length, columns, rows and cells. Cells are stripped; missing values (empty, ``NA``,
``null``...) become ``None``. Every error is ``Invalid`` (or ``PayloadTooLarge`` for a cap)
with ``details={"field": "file", "line": N}`` where a line is known.
"""

from __future__ import annotations

import csv
import itertools
import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from aiaas.errors import Invalid, PayloadTooLarge

MAX_COLUMNS = 2_000
MAX_ROWS = 1_000_000
MAX_CELLS = 10_000_000
"""Rows x columns; keeps the text cells of one file well under a gigabyte in memory."""
MAX_LINE_BYTES = 8 * 1024 * 1024
MAX_NAME_CHARS = 200
MISSING = frozenset({"", "NA", "N/A", "n/a", "NaN", "nan", "NULL", "null", "None", "<NA>", "#N/A"})
_DELIMITERS = (",", ";", "\t", "|")
_FIELD_LIMIT = MAX_LINE_BYTES


@dataclass
class RawTable:
    """``cells[j][i]`` is column ``j`` of row ``i`` (``None`` when missing); ``lines[i]`` is the
    line number (1-based) where row ``i`` starts in the file."""

    names: list[str]
    cells: list[list[str | None]]
    lines: array[int]

    @property
    def rows(self) -> int:
        return len(self.lines)


def invalid(message: str, line: int | None = None, **details: Any) -> Invalid:
    where = {"field": "file", **({"line": line} if line is not None else {}), **details}
    return Invalid(f"line {line}: {message}" if line is not None else message, details=where)


def shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 3] + "..."


def read_table(path: Path, fmt: str) -> RawTable:
    """Parse ``path`` as ``csv`` or ``jsonl``."""
    with path.open("rb") as handle:
        return read_stream(handle, fmt)


def read_stream(handle: IO[bytes], fmt: str) -> RawTable:
    """Parse an open binary stream (a stored file, decrypted as it is read)."""
    table = _read_csv(handle) if fmt == "csv" else _read_jsonl(handle)
    if not table.names:
        raise invalid("the file is empty")
    if not table.rows:
        raise invalid("the file has no data rows" + (" after its header" if fmt == "csv" else ""))
    return table


def _text_lines(handle: IO[bytes]) -> Iterator[str]:
    """The file's lines as text (newlines kept), each bounded and checked to be UTF-8."""
    number = 0
    while raw := handle.readline(MAX_LINE_BYTES + 1):
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise PayloadTooLarge(f"line {number}: longer than {MAX_LINE_BYTES} bytes",
                                  details={"field": "file", "line": number,
                                           "limit": MAX_LINE_BYTES})
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise invalid(f"not UTF-8 text (byte {exc.start + 1} of the line); save the file as "
                          "UTF-8", number) from None
        yield text.removeprefix("\ufeff") if number == 1 else text


class _Columns:
    """Cells gathered column by column, with the caps checked as rows arrive."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.cells: list[list[str | None]] = [[] for _ in names]
        self.lines: array[int] = array("q")

    def check_names(self, line: int) -> None:
        if len(self.names) > MAX_COLUMNS:
            raise PayloadTooLarge(f"line {line}: {len(self.names)} columns; at most {MAX_COLUMNS} "
                                  "are allowed", details={"field": "file", "limit": MAX_COLUMNS})
        seen: dict[str, int] = {}
        for position, name in enumerate(self.names, start=1):
            if not name:
                raise invalid(f"column {position} has no name", line)
            if len(name) > MAX_NAME_CHARS:
                raise invalid(f"column {position}'s name is longer than {MAX_NAME_CHARS} "
                              "characters", line)
            if name in seen:
                raise invalid(f"duplicate column name {name!r} (columns {seen[name]} and "
                              f"{position})", line, column=name)
            seen[name] = position

    def add(self, values: list[str | None], line: int) -> None:
        rows = len(self.lines) + 1
        if rows > MAX_ROWS:
            raise _too_many(f"more than {MAX_ROWS} rows", line, MAX_ROWS)
        if rows * len(self.names) > MAX_CELLS:
            raise _too_many(f"more than {MAX_CELLS} cells (rows x columns)", line, MAX_CELLS)
        for column, value in zip(self.cells, values, strict=True):
            column.append(value)
        self.lines.append(line)

    def table(self) -> RawTable:
        return RawTable(self.names, self.cells, self.lines)


def _too_many(what: str, line: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"line {line}: the file has {what}; split it or drop columns",
                           details={"field": "file", "line": line, "limit": limit})


class _Number(str):
    """A JSON number kept as written, so it is typed like a CSV cell."""

    __slots__ = ()


def _cell(value: str) -> str | None:
    value = value.strip()
    return None if value in MISSING else value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(handle: IO[bytes]) -> RawTable:
    lines = _text_lines(handle)
    pulled: list[str] = []
    for text in lines:
        pulled.append(text)
        if text.strip():
            break
    if not pulled or not pulled[-1].strip():
        return RawTable([], [], array("q"))
    delimiter = sniff_delimiter(pulled[-1])
    csv.field_size_limit(_FIELD_LIMIT)
    reader = csv.reader(itertools.chain(pulled, lines), delimiter=delimiter, strict=True)
    columns: _Columns | None = None
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise invalid(f"malformed CSV: {exc}", reader.line_num) from None
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if columns is None:
            columns = csv_header(record, start)
            continue
        if len(record) != len(columns.names):
            raise invalid(f"expected {len(columns.names)} fields, got {len(record)}", start)
        columns.add([_cell(value) for value in record], start)
    return columns.table() if columns is not None else RawTable([], [], array("q"))


def sniff_delimiter(sample: str) -> str:
    """The delimiter of the first non-blank line: the most frequent of , ; tab |, a comma on a
    tie (shared with the columnar reader, which must pick the same one)."""
    return max(_DELIMITERS, key=lambda d: (sample.count(d), d == ","))


def csv_header(record: list[str], line: int) -> _Columns:
    """The header's stripped names, checked (values instead of names, empty, long, duplicate
    names, too many columns)."""
    names = [name.strip() for name in record]
    if all(_is_number(name) for name in names):
        raise invalid("the first line must name the columns (a header), but it holds values: "
                      f"{shorten(', '.join(names))}", line)
    columns = _Columns(names)
    columns.check_names(line)
    return columns


def _json_cell(value: Any, key: str, line: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _cell(value)
    kind = "an object" if isinstance(value, dict) else "a list"
    raise invalid(f"field {key!r} holds {kind}; values must be strings, numbers, booleans or "
                  "null", line, column=key)


def _read_jsonl(handle: IO[bytes]) -> RawTable:
    names: dict[str, int] = {}
    rows: list[tuple[int, dict[str, Any]]] = []
    cells = 0
    for line, text in enumerate(_text_lines(handle), start=1):
        if not text.strip():
            continue
        try:
            value = json.loads(text, parse_int=_Number, parse_float=_Number,
                               parse_constant=_Number)
        except json.JSONDecodeError as exc:
            raise invalid(f"not a JSON object: invalid JSON at column {exc.colno}: {exc.msg}",
                          line) from None
        except RecursionError:
            raise invalid("not a JSON object: nested too deeply", line) from None
        if not isinstance(value, dict):
            raise invalid(f"not a JSON object (got {_json_kind(value)})", line)
        for key in value:
            if key not in names:
                names[key] = len(names)
                if not key or len(key) > MAX_NAME_CHARS or len(names) > MAX_COLUMNS:
                    columns = _Columns(list(names))
                    columns.check_names(line)
        cells += len(value)
        if len(rows) + 1 > MAX_ROWS:
            raise _too_many(f"more than {MAX_ROWS} rows", line, MAX_ROWS)
        if cells > MAX_CELLS:
            raise _too_many(f"more than {MAX_CELLS} values", line, MAX_CELLS)
        rows.append((line, value))
    columns = _Columns(list(names))
    for line, value in rows:
        columns.add([_json_cell(value.get(key), key, line) for key in columns.names], line)
    return columns.table()


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, _Number):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "null" if value is None else "a boolean"
