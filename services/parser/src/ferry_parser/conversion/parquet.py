"""Rows of a parsed table → a Parquet file, streamed: polars sinks the batches as they are made.

The batches become typed frames in a polars IO source, and ``sink_parquet``
writes them through its streaming engine, so memory holds a few batches and a row
group, never the table. Column types follow the parser's: integer → Int64, float →
Float64, boolean → Boolean, date → Date, datetime → Datetime (microseconds; in UTC
when the column's values are, see ``values.aware_columns``), string → String.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import polars as pl
from polars.io.plugins import register_io_source

from ferry_core.events import ColumnInfo
from ferry_parser.conversion.values import DATE, DATETIME, ValueMismatch, aware_columns, to_date, to_datetime

ROW_GROUP_ROWS = 65_536
"""Rows per row group: what the sink holds before it writes (its default, 512², would be most of a table)."""

_DTYPES: dict[str, pl.DataType] = {
    "integer": pl.Int64(),
    "float": pl.Float64(),
    "boolean": pl.Boolean(),
    DATE: pl.Date(),
}


def write_parquet(columns: list[ColumnInfo], batches: Iterator[list[list[Any]]], out: Path) -> None:
    first = next(batches, [])
    aware = aware_columns(columns, first)
    schema = {column.name: _dtype(column, index in aware) for index, column in enumerate(columns)}

    def frames(*_: object) -> Iterator[pl.DataFrame]:
        for batch in chain([first], batches):
            if batch:
                yield _frame(columns, schema, batch, aware)

    # Hints (projection, predicate, row count) do not apply: the sink reads every column of every row.
    register_io_source(frames, schema=schema).sink_parquet(out, compression="zstd", row_group_size=ROW_GROUP_ROWS)


def _dtype(column: ColumnInfo, aware: bool) -> pl.DataType:
    if column.type == DATETIME:
        return pl.Datetime("us", "UTC") if aware else pl.Datetime("us")
    return _DTYPES.get(column.type, pl.String())


def _frame(
    columns: list[ColumnInfo], schema: dict[str, pl.DataType], batch: list[list[Any]], aware: set[int]
) -> pl.DataFrame:
    series = []
    for index, (column, values) in enumerate(zip(columns, zip(*batch, strict=True), strict=True)):
        if column.type == DATE:
            values = tuple(to_date(value, column.name) for value in values)
        elif column.type == DATETIME:
            values = tuple(to_datetime(value, column.name, aware=index in aware) for value in values)
        series.append(_series(column, schema[column.name], values))
    return pl.DataFrame(series)


def _series(column: ColumnInfo, dtype: pl.DataType, values: tuple[Any, ...]) -> pl.Series:
    try:
        return pl.Series(column.name, values, dtype=dtype, strict=True)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        raise ValueMismatch(f"Column {column.name!r} holds a value that is not of its type ({column.type}).") from None
