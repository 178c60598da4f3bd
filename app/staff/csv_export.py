"""CSV files streamed row by row, readable by Excel with Arabic names.

UTF-8 with a byte order mark (Excel takes BOM-less files for the local code
page and garbles Arabic), ``\\r\\n`` line ends, and text that would start a
formula (``= + - @``, tab, carriage return) prefixed with an apostrophe so a
reader's name cannot run in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def stream(
    header: Sequence[str],
    rows: Iterable[Any],
    to_cells: Callable[[Any], Sequence[Any]],
    batch: int = 1000,
) -> Iterator[bytes]:
    """The BOM and header, then ``batch`` rows per chunk: memory stays flat however many rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_text(str(h)) for h in header])
    yield (BOM + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for row in rows:
        writer.writerow(
            [
                safe_text(cell) if isinstance(cell, str) else ("" if cell is None else cell)
                for cell in to_cells(row)
            ]
        )
        pending += 1
        if pending >= batch:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode("utf-8")
