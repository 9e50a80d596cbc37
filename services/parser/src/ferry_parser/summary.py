"""The summary of a parse, built from the headers a reader yields and the chunks stored."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ferry_core.events import ColumnInfo, SheetInfo, Summary
from ferry_parser.chunks import Chunk
from ferry_parser.errors import EmptyFile
from ferry_parser.formats import DocumentHeader, Header, TableHeader
from ferry_parser.stats import ColumnStats


@dataclass
class _Table:
    header: TableHeader
    rows: int = 0

    def columns(self, stats: Mapping[str, ColumnStats]) -> list[ColumnInfo]:
        """The header's columns, with their statistics when the worker gathered them."""
        gathered = stats.get(self.header.part)
        return gathered.columns() if gathered is not None else list(self.header.columns)


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

    def build(self, warnings: list[str] | None = None, stats: Mapping[str, ColumnStats] | None = None) -> Summary:
        """The summary; ``stats`` are the tables' column statistics by part (``Done.stats``)."""
        stats = stats or {}
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
            columns=tables[0].columns(stats),
            metadata=metadata,
            warnings=[w for t in tables for w in t.header.warnings] + extra,
        )
        if len(tables) > 1 or tables[0].header.part:
            summary.sheets = [SheetInfo(name=t.header.part, rows=t.rows, columns=t.columns(stats)) for t in tables]
        return summary
