"""The summary of a parse, built from the headers a reader yields and the chunks stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from ferry_core.events import ColumnInfo, SheetInfo, Summary
from ferry_parser.chunks import Chunk
from ferry_parser.errors import EmptyFile
from ferry_parser.formats import DocumentHeader, Header, TableHeader


@dataclass
class _Table:
    header: TableHeader
    rows: int = 0
    stats: ColumnStats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = ColumnStats(self.header.columns)


class SummaryBuilder:
    def __init__(self, fmt: str) -> None:
        self._format = fmt
        self._tables: dict[str, _Table] = {}
        self._document: DocumentHeader | None = None
        self._pages = 0

    def start(self, header: Header) -> None:
        if isinstance(header, TableHeader):
            self._tables[header.part] = _Table(header)
        else:
            self._document = header

    def count(self, chunk: Chunk) -> None:
        if chunk.field == "pages":
            self._pages += chunk.count
        else:
            self._tables[chunk.part].rows += chunk.count
            self._tables[chunk.part].stats.observe(chunk.items)

    @property
    def is_document(self) -> bool:
        return self._document is not None

    @property
    def done(self) -> int:
        """Rows (or pages) stored so far."""
        return self._pages if self.is_document else sum(t.rows for t in self._tables.values())

    @property
    def total(self) -> int | None:
        """Rows (or pages) expected in all, when the reader said."""
        if self._document is not None:
            return self._document.pages_total
        totals = [t.header.rows_total for t in self._tables.values()]
        return None if not totals or None in totals else sum(t for t in totals if t is not None)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self._tables.values())

    def build(self, warnings: list[str] | None = None) -> Summary:
        extra = list(warnings or [])
        if self._document is not None:
            document = self._document
            return Summary(
                kind=document.kind,
                pages=self._pages,
                metadata={"format": self._format, **document.metadata},
                warnings=document.warnings + extra,
            )
        if not self._tables:
            raise EmptyFile("The file holds no content to show.")
        tables = list(self._tables.values())
        metadata: dict[str, object] = {"format": self._format}
        for table in tables:
            metadata.update(table.header.metadata)
        summary = Summary(
            kind="table",
            rows=self.rows,
            columns=tables[0].stats.columns(),
            metadata=metadata,
            warnings=[w for t in tables for w in t.header.warnings] + extra,
        )
        if len(tables) > 1 or tables[0].header.part:
            summary.sheets = [SheetInfo(name=t.header.part, rows=t.rows, columns=t.stats.columns()) for t in tables]
        return summary


# -- column statistics --------------------------------------------------------------

RANGED_TYPES = frozenset({"integer", "float", "date", "datetime"})
"""Column types whose smallest and largest values are reported (dates compare as their ISO text)."""


class ColumnStats:
    """Null counts of every column, and min/max of numeric and date ones, over a table's stored rows.

    Accumulated chunk by chunk, so nothing but the running figures is kept; the
    values are the stored ones (``inference.storable``), as the content API returns them.
    """

    def __init__(self, columns: Sequence[ColumnInfo]) -> None:
        self._columns = list(columns)
        self._nulls = [0] * len(self._columns)
        self._min: list[Any] = [None] * len(self._columns)
        self._max: list[Any] = [None] * len(self._columns)
        self._ranged = {i for i, column in enumerate(self._columns) if column.type in RANGED_TYPES}

    def observe(self, rows: Sequence[Sequence[Any]]) -> None:
        """Count in ``rows`` (value lists in column order; missing trailing values are nulls)."""
        if not rows or not self._columns:
            return
        width = len(self._columns)
        for i, values in enumerate(zip_longest(*rows)):
            if i == width:
                break
            self._nulls[i] += values.count(None)
            if i in self._ranged:
                self._widen(i, values)

    def _widen(self, i: int, values: tuple[Any, ...]) -> None:
        present = [v for v in values if v is not None and v == v]  # v != v: NaN has no place in an order
        if not present:
            return
        try:
            low, high = min(present), max(present)
            if self._min[i] is not None:
                low, high = min(low, self._min[i]), max(high, self._max[i])
        except TypeError:  # values that do not compare (a reader's mixed column): no range at all
            self._ranged.discard(i)
            self._min[i] = self._max[i] = None
            return
        self._min[i], self._max[i] = low, high

    def columns(self) -> list[ColumnInfo]:
        """The columns with their statistics filled in."""
        return [
            column.model_copy(update={"nulls": self._nulls[i], "min": self._min[i], "max": self._max[i]})
            for i, column in enumerate(self._columns)
        ]
