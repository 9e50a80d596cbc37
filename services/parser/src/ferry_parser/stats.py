"""Column statistics of a table: null counts of every column, min and max of numeric and date ones.

Computed by polars in the worker, batch by batch as the reader yields them, so
nothing but the running figures is kept and the parser's event loop never
walks the rows. The values are the stored ones (``inference.storable``), as
the content API returns them: dates and datetimes compare as their ISO text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from ferry_core.events import ColumnInfo

RANGED_TYPES = frozenset({"integer", "float", "date", "datetime"})
"""Column types whose smallest and largest values are reported."""


class ColumnStats:
    """The running statistics of one table's columns (picklable: it travels from the worker in ``Done``)."""

    def __init__(self, columns: Sequence[ColumnInfo]) -> None:
        self._columns = list(columns)
        self._nulls = [0] * len(self._columns)
        self._min: list[Any] = [None] * len(self._columns)
        self._max: list[Any] = [None] * len(self._columns)
        self._ranged = {i for i, column in enumerate(self._columns) if column.type in RANGED_TYPES}

    def observe(self, frame: pl.DataFrame) -> None:
        """Count in ``frame``, whose columns are the table's in order (a narrower frame misses the rest)."""
        if frame.height == 0:
            return
        names = frame.columns[: len(self._columns)]
        figures: list[pl.Expr] = [pl.col(name).null_count() for name in names]
        ranged = [i for i in sorted(self._ranged) if i < len(names) and _orderable(frame.dtypes[i])]
        for i in ranged:
            value = pl.col(names[i])
            if frame.dtypes[i].is_float():
                value = value.fill_nan(None)  # NaN has no place in an order
            figures += [value.min(), value.max()]
        row = frame.select(f.alias(str(n)) for n, f in enumerate(figures)).row(0)
        for i in range(len(names)):
            self._nulls[i] += row[i]
        for k, i in enumerate(ranged):
            self._widen(i, row[len(names) + 2 * k], row[len(names) + 2 * k + 1])
        for i in range(len(names), len(self._columns)):
            self._nulls[i] += frame.height  # a frame without the column holds no value of it
        for i in self._ranged - set(ranged) - set(range(len(names), len(self._columns))):
            if frame.get_column(names[i]).null_count() < frame.height:
                self._drop_range(i)  # values polars cannot order (a reader's mixed column): no range at all

    def _widen(self, i: int, low: Any, high: Any) -> None:
        if low is None:
            return
        try:
            if self._min[i] is not None:
                low, high = min(low, self._min[i]), max(high, self._max[i])
        except TypeError:  # batches whose values do not compare with each other
            self._drop_range(i)
            return
        self._min[i], self._max[i] = low, high

    def _drop_range(self, i: int) -> None:
        self._ranged.discard(i)
        self._min[i] = self._max[i] = None

    def columns(self) -> list[ColumnInfo]:
        """The columns with their statistics filled in."""
        return [
            column.model_copy(update={"nulls": self._nulls[i], "min": self._min[i], "max": self._max[i]})
            for i, column in enumerate(self._columns)
        ]


def _orderable(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype in (pl.String, pl.Date, pl.Null) or isinstance(dtype, pl.Datetime)
