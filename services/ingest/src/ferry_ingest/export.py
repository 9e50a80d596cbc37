"""Stream parsed content back out as CSV, NDJSON or JSON, chunk by chunk.

Memory stays at about one stored chunk whatever the file's size: rows are
read from the chunks in order and encoded as they go.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from ferry_core.events import Summary
from ferry_core.readmodels import ParsedReadModel

ExportFormat = Literal["csv", "ndjson", "json"]

MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "json": "application/json",
}


def _csv_lines(rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return buffer.getvalue()


async def export_table(
    parsed: ParsedReadModel, file_id: str, summary: Summary, sheet: str | None, fmt: ExportFormat
) -> AsyncIterator[bytes]:
    columns = parsed.columns_of(summary, sheet)
    if fmt == "csv":
        yield _csv_lines([columns]).encode()
    elif fmt == "json":
        yield b"["
    first = True
    async for rows in parsed.iter_table(file_id, summary, sheet):
        if fmt == "csv":
            yield _csv_lines(rows).encode()
            continue
        objects = [json.dumps(dict(zip(columns, row, strict=False)), ensure_ascii=False) for row in rows]
        if fmt == "ndjson":
            yield ("\n".join(objects) + "\n").encode() if objects else b""
        elif objects:
            yield (("" if first else ",") + ",".join(objects)).encode()
            first = False
    if fmt == "json":
        yield b"]"


async def export_pages(parsed: ParsedReadModel, file_id: str, fmt: ExportFormat) -> AsyncIterator[bytes]:
    if fmt == "csv":
        yield _csv_lines([["number", "text"]]).encode()
    elif fmt == "json":
        yield b"["
    first = True
    async for pages in parsed.iter_pages(file_id):
        if fmt == "csv":
            yield _csv_lines([[page.get("number"), page.get("text", "")] for page in pages]).encode()
            continue
        objects = [json.dumps(page, ensure_ascii=False) for page in pages]
        if fmt == "ndjson":
            yield ("\n".join(objects) + "\n").encode() if objects else b""
        elif objects:
            yield (("" if first else ",") + ",".join(objects)).encode()
            first = False
    if fmt == "json":
        yield b"]"
