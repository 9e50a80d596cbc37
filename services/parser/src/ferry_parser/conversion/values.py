"""Stored values back to typed ones, for the writers whose formats have dates and times (xlsx, parquet).

Rows arrive as ``parsed_chunks`` stores them (see ``formats.inference``): dates as
``YYYY-MM-DD`` text, datetimes as ISO 8601 text, UTC ones ending in ``Z``,
integers wider than 64 bits already as text (their column is a string column).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from ferry_core.events import ColumnInfo
from ferry_parser.errors import ParseError

DATE = "date"
DATETIME = "datetime"


class ValueMismatch(ParseError):
    """A stored value does not read as its column's type (the parsed data is not what its summary says)."""

    code = "conversion_failed"


def to_date(value: Any, column: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueMismatch(f"Column {column!r} holds {value!r}, which is not a date.") from None


def to_datetime(value: Any, column: str, *, aware: bool) -> datetime | None:
    """``value`` as a datetime: in UTC for an ``aware`` column, else naive (a UTC value as its UTC wall time).

    A column mixing the two reads its naive values as UTC when it is aware: one
    column of a parquet file has one time zone, or none.
    """
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueMismatch(f"Column {column!r} holds {value!r}, which is not a datetime.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
        return parsed if aware else parsed.replace(tzinfo=None)
    return parsed.replace(tzinfo=UTC) if aware else parsed


def aware_columns(columns: Sequence[ColumnInfo], rows: Sequence[Sequence[Any]]) -> set[int]:
    """The datetime columns holding UTC values: by their statistics, or else by their first value in ``rows``.

    ``rows`` is the first batch: a writer must fix its columns' types before the rest arrives.
    """
    aware: set[int] = set()
    for index, column in enumerate(columns):
        if column.type != DATETIME:
            continue
        first = next((row[index] for row in rows if row[index] is not None), None)
        if any(_is_aware(value) for value in (column.min, column.max, first)):
            aware.add(index)
    return aware


def _is_aware(value: Any) -> bool:
    if isinstance(value, str):
        return value.endswith(("Z", "+00:00"))
    return isinstance(value, datetime) and value.tzinfo is not None
