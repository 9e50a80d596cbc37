"""Rows of a parsed table → csv, json, ndjson (here), xlsx (``xlsx.py``) or parquet (``parquet.py``).

Each writer takes the rows batch by batch and writes them as they come, so what
it holds is one batch (xlsx and parquet: plus a bounded buffer of their own).
Values arrive as stored (``formats.inference``): the text formats write them as
they are — dates and datetimes as their ISO 8601 text, booleans as ``true`` /
``false``, a missing value as an empty CSV field or JSON ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ferry_core.events import ColumnInfo
from ferry_core.jobs import TABLE_TARGETS
from ferry_parser.conversion.parquet import write_parquet
from ferry_parser.conversion.xlsx import write_xlsx

Batches = Iterator[list[list[Any]]]

_CSV_SPECIAL = frozenset(',"\r\n')


def write_table(
    columns: list[ColumnInfo], batches: Batches, target: str, out: Path, *, sheet: str | None = None
) -> None:
    """Rows (value lists in ``columns``' order, typed as parsed) → csv, xlsx, json, ndjson or parquet at ``out``.

    ``sheet`` names the xlsx worksheet (the source sheet's name; ``Sheet1`` when not given).
    """
    if target not in TABLE_TARGETS:
        raise ValueError(f"not a table target: {target!r}")
    if target == "xlsx":
        write_xlsx(columns, batches, out, sheet=sheet or "Sheet1")
    elif target == "parquet":
        write_parquet(columns, batches, out)
    else:
        _TEXT_WRITERS[target](columns, batches, out)


def write_csv(columns: list[ColumnInfo], batches: Batches, out: Path) -> None:
    """RFC 4180: a header row, CRLF line ends, UTF-8 without a byte order mark.

    An empty string is written quoted (``""``) and a missing value as nothing, so a
    reader can tell them apart.
    """
    with out.open("w", encoding="utf-8", newline="") as file:
        file.write(_csv_line([column.name for column in columns]))
        for batch in batches:
            file.write("".join(_csv_line(row) for row in batch))


def write_json(columns: list[ColumnInfo], batches: Batches, out: Path) -> None:
    """One JSON array of objects keyed by column name, written object by object."""
    names = [column.name for column in columns]
    with out.open("w", encoding="utf-8") as file:
        file.write("[")
        separator = "\n"
        for batch in batches:
            for row in batch:
                file.write(separator)
                file.write(_json_object(names, row))
                separator = ",\n"
        file.write("\n]\n")


def write_ndjson(columns: list[ColumnInfo], batches: Batches, out: Path) -> None:
    """One JSON object per line (JSON Lines), keyed by column name."""
    names = [column.name for column in columns]
    with out.open("w", encoding="utf-8") as file:
        for batch in batches:
            file.write("".join(_json_object(names, row) + "\n" for row in batch))


_TEXT_WRITERS: dict[str, Callable[[list[ColumnInfo], Batches, Path], None]] = {
    "csv": write_csv,
    "json": write_json,
    "ndjson": write_ndjson,
}


def _csv_line(values: list[Any]) -> str:
    return ",".join(_csv_field(value) for value in values) + "\r\n"


def _csv_field(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value) if isinstance(value, float) else str(value)
    # Quoted also when empty (to differ from a missing value) or blank-edged (readers may trim).
    if not text or text[0].isspace() or text[-1].isspace() or not _CSV_SPECIAL.isdisjoint(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def _json_object(names: list[str], row: list[Any]) -> str:
    return json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False, allow_nan=False, default=str)
