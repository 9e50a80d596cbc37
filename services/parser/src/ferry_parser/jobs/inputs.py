"""The parsed content a job's process reads, streamed chunk by chunk from ``parsed_chunks``.

Each batch is one stored chunk (at most ``chunk_rows`` rows or pages, ~``max_chunk_bytes``),
so the parser holds one chunk at a time whatever the file's size.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

from ferry_core.events import ColumnInfo, Summary
from ferry_core.readmodels import ParsedReadModel
from ferry_parser.jobs.errors import UnknownSheet

PAGE_KINDS = frozenset({"pages", "text", "document"})


def table_columns(summary: Summary, sheet: str | None) -> tuple[str | None, list[ColumnInfo], int]:
    """The sheet's name (None for a single table), its columns and its row count; ``UnknownSheet`` otherwise."""
    if summary.sheets:
        chosen = summary.sheets[0] if sheet is None else next((s for s in summary.sheets if s.name == sheet), None)
        if chosen is None:
            names = ", ".join(s.name for s in summary.sheets)
            raise UnknownSheet(f"The workbook has no sheet named {sheet!r} (its sheets: {names}).")
        return chosen.name, chosen.columns, chosen.rows
    if sheet not in (None, ""):
        raise UnknownSheet(f"The file is a single table, without a sheet named {sheet!r}.")
    return None, summary.columns, summary.rows


async def rows(model: ParsedReadModel, file_id: str, summary: Summary, sheet: str | None) -> AsyncIterator[list[Any]]:
    """One sheet's rows, a chunk at a time."""
    async for batch in model.iter_table(file_id, summary, sheet):
        yield batch


async def pages(model: ParsedReadModel, file_id: str) -> AsyncIterator[list[Any]]:
    """Every page (``{number, text, ...}``), a chunk at a time."""
    async for batch in model.iter_pages(file_id):
        yield batch


def unit_count(summary: Summary, rows_per_unit: int) -> int:
    """How many text units an analysis of this file goes through (its "pages")."""
    if summary.kind in PAGE_KINDS:
        return summary.pages
    return sum(math.ceil(rows / rows_per_unit) for _, columns, rows in _tables(summary) if _text_columns(columns))


async def text_units(
    model: ParsedReadModel, file_id: str, summary: Summary, rows_per_unit: int
) -> AsyncIterator[list[tuple[int, str]]]:
    """``(number, text)`` units, numbered from 1: the pages as parsed, or a table's text cells in blocks of rows.

    A table's unit is ``rows_per_unit`` rows of every sheet (in order) that has ``string``
    columns, one line per non-empty cell; sheets without text are not read at all.
    """
    if summary.kind in PAGE_KINDS:
        number = 0
        async for batch in model.iter_pages(file_id):
            units: list[tuple[int, str]] = []
            for page in batch:
                number += 1
                units.append((number, str(page.get("text") or "")))
            yield units
        return
    number = 0
    for sheet, columns, _ in _tables(summary):
        text = _text_columns(columns)
        if not text:
            continue
        lines: list[str] = []
        rows_in_unit = 0
        async for rows_batch in model.iter_table(file_id, summary, sheet):
            units = []
            for row in rows_batch:
                lines.extend(cell for i in text if i < len(row) and isinstance(cell := row[i], str) and cell.strip())
                rows_in_unit += 1
                if rows_in_unit == rows_per_unit:
                    number += 1
                    units.append((number, "\n".join(lines)))
                    lines, rows_in_unit = [], 0
            if units:
                yield units
        if rows_in_unit:
            number += 1
            yield [(number, "\n".join(lines))]


def _tables(summary: Summary) -> list[tuple[str | None, list[ColumnInfo], int]]:
    if summary.sheets:
        return [(s.name, s.columns, s.rows) for s in summary.sheets]
    return [(None, summary.columns, summary.rows)]


def _text_columns(columns: list[ColumnInfo]) -> list[int]:
    return [i for i, column in enumerate(columns) if column.type == "string"]
