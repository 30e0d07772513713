"""Spreadsheet-friendly CSV exports for staff (orders, customers).

UTF-8 with a BOM (so Excel reads accents), decimal euros with a dot, and every text cell typed
by a shopper neutralised against formula injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value: str) -> str:
    """Neutralise spreadsheet formulas in text typed by shoppers (CSV injection): a leading
    `'` makes Excel/LibreOffice show `=HYPERLINK(…)` as text instead of running it."""
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def stream_csv(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    """CSV text chunks, one per row after a BOM + header chunk (for a streamed response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        chunk = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return chunk

    writer.writerow(header)
    yield "\ufeff" + flush()
    for row in rows:
        writer.writerow(row)
        yield flush()


def rows_from_own_session(
    engine: Engine, rows: Callable[[Session], Iterable[list]]
) -> Iterator[list]:
    """Rows read through a session of their own, opened when the first row is wanted and closed
    when the last is sent (or the client goes away).

    A streamed response is sent after its request has ended — its app context torn down, its
    session removed, `current_user` detached — so the rows must not be read through the
    request's session, nor touch anything of the request (locale, user): whatever they need is
    computed before the response is returned.
    """
    with Session(engine) as session:
        yield from rows(session)
