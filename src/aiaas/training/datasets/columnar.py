"""A columnar fast path for CSV uploads: pyarrow parses, ``validation``'s rules type the columns.

Reading a CSV with the ``csv`` module into a Python string per cell, then typing every cell in
pandas, runs at about 14 MB/s; this path reads the file with ``pyarrow.csv`` into byte
columns and types them with ``pyarrow.compute``, several times faster. It only ever answers
"valid, and here is exactly what the exact path (``parsing`` then ``validation``) would give":
the same names, column types, frame and label, split and timestamp columns. Whenever that
cannot be shown cheaply (a quoted newline, a bare carriage return, a long line, a blank first
line, a cell the typing rejects, a cap reached, anything pyarrow refuses) it answers ``None``
and the caller runs the exact path, which raises today's errors with today's line numbers. So
no error comes from here, and a file it cannot prove identical costs one extra attempt.

How the result is kept identical:

- parsing: the header line is parsed with the ``csv`` module itself (same delimiter sniffing
  and header checks); the body goes to pyarrow with quoting off when it holds no quote, else
  only when every line holding one is made of whole, closed, well-formed fields (checked with
  one regular expression per such line), so both parsers split every line the same way;
- cells are stripped of exactly the characters ``str.strip`` removes, and the ``MISSING``
  markers become nulls, as in ``parsing``;
- a column becomes numbers here only when every present cell is a plain decimal (sign,
  digits, one point, at most 15 digits: parsed to the same double by any correct parser,
  pandas' included); other columns that might hold a number are typed by
  ``validation.infer_column`` itself on the column's Python strings, and columns that cannot
  hold one follow its label/date/text rules with the shared helpers.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import mmap
import os
from array import array
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from aiaas.errors import Invalid
from aiaas.training.datasets import parsing, validation
from aiaas.training.datasets.tabular import SPLIT_VALUES

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger("aiaas.training.datasets.columnar")

THREADS = min(4, os.cpu_count() or 1)
MAX_FAST_LINE = 512 * 1024
"""Longer lines take the exact path (well under ``MAX_LINE_BYTES`` and pyarrow's block)."""
BLOCK_BYTES = 1024 * 1024
WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
              "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
"""What ``str.strip()`` removes (every ``str.isspace`` character; a test checks the list)."""
SIMPLE = b"0123456789.+-"
"""The bytes of a plain decimal; no ``MISSING`` marker but the empty one is made of them."""
MAX_DIGITS = 15
"""Up to 15 digits and no exponent, a decimal is exactly representable before one rounding,
so every correct parser (pandas' and pyarrow's) gives the same double."""
MAYBE_NUMBER = r"^[+-]?(?:[0-9.]*(?:[eE][+-]?[0-9]*)?|(?i:inf|infinity))$"
"""Every string pandas reads as a number has this shape (a sign, digits and a point, an
exponent; or inf/infinity in any case): a column with no such value holds no number."""
_QUOTED = '"(?:[^"\\r\\n]|"")*"'
_RE_DELIMITER = {",": ",", ";": ";", "\t": "\\t", "|": "\\|"}


class Decline(Exception):
    """The fast path cannot show its result identical; the exact path decides."""


def read_checked(path: Path, fmt: str, *, label: str | None = None,
                 split_column: str | None = None, timestamp: str | None = None
                 ) -> validation.CheckedTable | None:
    """The checked table of the CSV at ``path``, or ``None`` to use the exact path."""
    if fmt != "csv" or path.stat().st_size == 0:
        return None
    with path.open("rb") as handle:
        view = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return check_bytes(view, label=label, split_column=split_column, timestamp=timestamp)
    finally:
        with contextlib.suppress(BufferError):  # a view still held: the collector closes it
            view.close()


def load_checked(handle: IO[bytes], fmt: str, *, label: str | None,
                 split_column: str | None, timestamp: str | None) -> validation.CheckedTable:
    """A stored file read and checked as at upload: the fast path, else the exact one."""
    import io

    if fmt != "csv":
        raw = parsing.read_stream(handle, fmt)
        return validation.check_table(raw, label=label, split_column=split_column,
                                      timestamp=timestamp)
    data = handle.read()
    checked = check_bytes(data, label=label, split_column=split_column, timestamp=timestamp)
    if checked is not None:
        return checked
    raw = parsing.read_stream(io.BytesIO(data), fmt)
    return validation.check_table(raw, label=label, split_column=split_column,
                                  timestamp=timestamp)


def check_bytes(data: bytes | mmap.mmap, *, label: str | None = None,
                split_column: str | None = None, timestamp: str | None = None
                ) -> validation.CheckedTable | None:
    """``data`` (a whole CSV file) checked, or ``None`` when only the exact path can say."""
    try:
        return _check(data, label, split_column, timestamp)
    except Decline as exc:
        log.debug("CSV takes the exact path: %s", exc)
    except Exception as exc:  # anything pyarrow or a shared check raises: the exact path
        log.debug("CSV takes the exact path: %s: %s", type(exc).__name__, exc)
    return None


def _check(data: bytes | mmap.mmap, label: str | None, split_column: str | None,
           timestamp: str | None) -> validation.CheckedTable:
    import pandas as pd
    import pyarrow.compute as pc

    names, delimiter, start = _header(data)
    label = validation.resolve_label(names, label, split_column, timestamp)
    body = _read_body(data, start, delimiter, len(names)).columns
    if len(body) == 1:  # ``csv`` skips a line whose one cell is blank; so do we
        only = _text(body[0])
        body = [only.filter(pc.not_equal(pc.utf8_trim(only, characters=WHITESPACE), ""))]
    rows = len(body[0])
    if rows == 0 or rows > parsing.MAX_ROWS or rows * len(names) > parsing.MAX_CELLS:
        raise Decline(f"{rows} rows")
    # For the shared checks that want line numbers: any error they raise declines anyway.
    stub = parsing.RawTable(names, [], array("q", bytes(8 * rows)))
    roles = {name: role for name, role in ((label, "label"), (split_column, "split"),
                                           (timestamp, "timestamp")) if name is not None}
    with ThreadPoolExecutor(max_workers=THREADS) as pool:  # pyarrow's kernels free the GIL
        typed = list(pool.map(lambda name, column: _column(name, column, stub, roles.get(name)),
                              names, body))
    columns = {name: kind for name, (kind, _) in zip(names, typed, strict=True)}
    frame = {name: values for name, (_, values) in zip(names, typed, strict=True)}
    # Not consolidated into one block per dtype (a copy of every number): equal frames, and
    # the statistics read it column by column.
    return validation.CheckedTable(pd.DataFrame(frame, copy=False), columns, label,
                                   split_column, timestamp)


def _column(name: str, column: pa.ChunkedArray, stub: parsing.RawTable, role: str | None
            ) -> tuple[str, pd.Series]:
    """One column's type and values, as ``validation.check_table`` gives them."""
    cells, present, point = _clean(column)
    if role == "split":
        return "label", _split(_text(cells))
    if role == "timestamp":
        return "datetime", validation.parse_datetimes(name, _text(cells).to_pylist(), stub)
    return _infer(name, cells, present, point, stub, is_label=role == "label")


def _header(data: bytes | mmap.mmap) -> tuple[list[str], str, int]:
    """The header's names and delimiter, read as ``parsing`` reads them, and where the body
    starts. A blank first line, a long or odd one, takes the exact path."""
    end = data.find(b"\n")
    if end == -1 or end + 1 > MAX_FAST_LINE:
        raise Decline("no line after the header, or a long header")
    text = data[:end + 1].decode("utf-8").removeprefix("\ufeff")
    if not text.strip():
        raise Decline("the first line is blank")
    delimiter = parsing.sniff_delimiter(text)
    records = list(csv.reader([text], delimiter=delimiter, strict=True))
    if len(records) != 1 or (len(records[0]) == 1 and not records[0][0].strip()):
        raise Decline("the header is not one record")
    return parsing.csv_header(records[0], 1).names, delimiter, end + 1


def _read_body(data: bytes | mmap.mmap, start: int, delimiter: str, width: int) -> pa.Table:
    """The rows after the header as binary columns, split exactly as the ``csv`` module
    splits them, or ``Decline``. UTF-8 is checked column by column later (``_text``): a
    column of plain decimals is ASCII, any other is cast to text, which checks it."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    _check_line_lengths(data, start)
    if data.find(b"\r", start) != -1:
        _check_carriage_returns(data, start)
    quoted = data.find(b'"', start) != -1
    if quoted:
        _check_quotes(data, start, delimiter)
    body = pa.py_buffer(data)[start:]
    names = [f"c{i}" for i in range(width)]
    return pcsv.read_csv(
        pa.BufferReader(body),
        read_options=pcsv.ReadOptions(column_names=names, block_size=BLOCK_BYTES),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, quote_char='"' if quoted else False,
                                        double_quote=True, escape_char=False,
                                        newlines_in_values=False, ignore_empty_lines=True),
        convert_options=pcsv.ConvertOptions(
            check_utf8=False, column_types=dict.fromkeys(names, pa.binary()), null_values=[],
            strings_can_be_null=False, quoted_strings_can_be_null=False))


def _check_line_lengths(data: bytes | mmap.mmap, start: int) -> None:
    """No line longer than ``MAX_FAST_LINE``: each window of that size holds a newline, or
    ends the file (a jump per window, not a step per line)."""
    size = len(data)
    position = start
    while size - position > MAX_FAST_LINE:
        newline = data.rfind(b"\n", position, position + MAX_FAST_LINE)
        if newline == -1:
            raise Decline("a long line")
        position = newline + 1


def _check_carriage_returns(data: bytes | mmap.mmap, start: int) -> None:
    """Every CR ends a line (CRLF): a bare one is a line break to pyarrow, an error to ``csv``."""
    text = np.frombuffer(data, dtype=np.uint8)[start:]
    at = np.flatnonzero(text == 13)
    if at[-1] + 1 >= len(text) or (text[at + 1] != 10).any():
        raise Decline("a bare carriage return")


def _check_quotes(data: bytes | mmap.mmap, start: int, delimiter: str) -> None:
    """Every line holding a quote is whole fields, each quoted one closed on the line and
    followed by a delimiter or the line's end: where both parsers agree (a quoted newline, a
    quote inside a field or text after a closing quote go to the exact path)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    body = pa.py_buffer(data)[start:]
    offsets = pa.py_buffer(np.array([0, body.size], dtype=np.int64).tobytes())
    whole = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, body])
    lines = pc.list_flatten(pc.split_pattern(whole, "\n"))
    quoted = lines.filter(pc.match_substring(lines, '"'))
    d = _RE_DELIMITER[delimiter]
    field = f'(?:{_QUOTED}|[^"{d}\\r\\n]*)'
    if not pc.all(pc.match_substring_regex(quoted, f"^{field}(?:{d}{field})*\\r?$")).as_py():
        raise Decline("a quote the two parsers may read differently")


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A binary column as text; ``ArrowInvalid`` (the exact path) when it is not UTF-8."""
    import pyarrow as pa

    return column if column.type == pa.string() else column.cast(pa.string())


def _clean(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray, bool | None]:
    """The stripped cells with ``MISSING`` markers as nulls, the present ones alone, and
    whether a present one has a decimal point when all are plain decimals (else ``None``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    plain = _decimals(column)
    if plain is not None:  # nothing to strip; "" is the only marker made of these bytes
        point, empty = plain
        if not empty:
            return column, column, point
        stripped, missing = column, pc.equal(pc.binary_length(column), 0)
    else:
        stripped = pc.utf8_trim(_text(column), characters=WHITESPACE)
        missing = pc.is_in(stripped, value_set=pa.array(sorted(parsing.MISSING)))
        if not pc.any(missing).as_py():
            plain = _decimals(stripped)
            return stripped, stripped, None if plain is None else plain[0]
    cells = pc.if_else(missing, pa.scalar(None, stripped.type), stripped)
    present = stripped.filter(pc.invert(missing))
    plain = _decimals(present) if plain is None else plain
    return cells, present, None if plain is None else plain[0]


def _decimals(column: pa.ChunkedArray) -> tuple[bool, bool] | None:
    """For a null-free string column whose values are all empty or plain decimals (``SIMPLE``
    bytes, at most ``MAX_DIGITS`` digits), whether a decimal point and whether an empty value
    occur; ``None`` for any other column."""
    point = empty = False
    for chunk in column.chunks:
        values = _value_bytes(chunk)
        if values.translate(None, SIMPLE):
            return None
        point = point or b"." in values
        offsets = _offsets(chunk)
        lengths = np.diff(offsets)
        empty = empty or bool((lengths == 0).any())
        if (lengths > MAX_DIGITS).any() and _most_digits(chunk, offsets) > MAX_DIGITS:
            return None
    return point, empty


def _value_bytes(chunk: pa.Array) -> bytes:
    offsets = _offsets(chunk)
    data = chunk.buffers()[2]
    if data is None or offsets[-1] == offsets[0]:
        return b""
    return memoryview(data)[offsets[0]:offsets[-1]].tobytes()


def _offsets(chunk: pa.Array) -> np.ndarray[Any, np.dtype[np.int32]]:
    return np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
        chunk.offset:chunk.offset + len(chunk) + 1]


def _numbers(cells: pa.ChunkedArray, present: pa.ChunkedArray, point: bool | None
             ) -> pd.Series | None:
    """The column as ``pandas.to_numeric`` reads it when every present cell is a plain decimal
    (``point`` not ``None``): integers without a point or a missing cell, else floats; ``None``
    when it is not (or may not be) that."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if point is None or not len(present):
        return None
    integers = not point and cells.null_count == 0
    try:
        typed = pc.cast(cells, pa.int64() if integers else pa.float64())
    except pa.ArrowInvalid:
        return None
    return pd.Series(typed.to_numpy())


def _most_digits(chunk: pa.Array, offsets: np.ndarray[Any, Any]) -> int:
    """The most digits any value of the chunk has (signs and the point not counted)."""
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    counted = np.concatenate(([0], np.cumsum((data - 48) < 10, dtype=np.int64)))
    relative = offsets - offsets[0]
    return int((counted[relative[1:]] - counted[relative[:-1]]).max())


def _infer(name: str, cells: pa.ChunkedArray, present: pa.ChunkedArray, point: bool | None,
           stub: parsing.RawTable, *, is_label: bool) -> tuple[str, pd.Series]:
    """``validation.infer_column``'s answer, computed on the arrow column where it can be."""
    import pandas as pd
    import pyarrow.compute as pc

    if is_label and cells.null_count:
        raise Decline(f"the label column {name!r} has empty cells")
    numbers = _numbers(cells, present, point)
    if numbers is not None:
        return "number", numbers
    cells, present = _text(cells), _text(present)
    if not len(present) or pc.any(pc.match_substring_regex(present, MAYBE_NUMBER)).as_py():
        try:
            return validation.infer_column(name, cells.to_pylist(), stub, is_label=is_label)
        except Invalid as exc:
            raise Decline(f"column {name!r}: {exc.message}") from None
    strings = pd.Series(cells, dtype="str")
    if is_label:
        counts = pc.value_counts(cells).field("counts")
        if len(counts) < 2 or pc.min(counts).as_py() < 2:
            raise Decline(f"the label column {name!r} needs other classes")
        return "label", strings
    if validation.looks_like_dates([present[0].as_py()]):
        try:
            return "datetime", validation.parse_datetimes(name, cells.to_pylist(), stub)
        except Invalid:
            pass
    distinct = pc.count_distinct(present).as_py()
    return ("label" if validation.few_classes(distinct, len(present)) else "text"), strings


def _split(cells: pa.ChunkedArray) -> pd.Series:
    """The split column lowercased when every value is train, validation or test (any ASCII
    case) and both train and test occur; else the exact path names the line."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if cells.null_count or not pc.all(pc.string_is_ascii(cells)).as_py():
        raise Decline("the split column has empty or non-ASCII cells")
    lowered = pc.ascii_lower(cells)
    if not pc.all(pc.is_in(lowered, value_set=pa.array(SPLIT_VALUES))).as_py():
        raise Decline("the split column has other values")
    if not {"train", "test"} <= set(pc.unique(lowered).to_pylist()):
        raise Decline("the split column lacks train or test rows")
    return pd.Series(lowered, dtype="str")
