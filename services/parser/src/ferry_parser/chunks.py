"""Parsed content as bounded chunks in ``parsed_chunks`` (the contract is ``ferry_core.readmodels``).

A chunk holds at most ``max_items`` rows or pages and roughly ``max_bytes``;
cutting is deterministic, and chunks are keyed by ``(file_id, part, seq)``.

The worker encodes each chunk's document to BSON where it cuts it, so what
crosses to the parser's process is one byte string, not a million Python
values to pickle and unpickle, and the parser inserts those bytes as they are
(``RawBSONDocument``): its event loop never walks the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import bson
import polars as pl
from bson.raw_bson import RawBSONDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from ferry_core.readmodels import CHUNKS, PAGES_PART, Db
from ferry_parser.formats import Block, Page

_VALUE_OVERHEAD = 16  # BSON type byte, array index key, length prefix: a generous estimate per value
_ROW_OVERHEAD = 16


@dataclass(frozen=True)
class Chunk:
    """One stored document of ``parsed_chunks``, already encoded, with the figures the parser counts."""

    file_id: str
    part: str
    seq: int
    start: int
    field: Literal["rows", "pages"]
    count: int
    document: bytes
    """``{_id, file_id, part, seq, start, count, rows | pages}`` as BSON."""

    @classmethod
    def encode(
        cls, file_id: str, part: str, seq: int, start: int, field: Literal["rows", "pages"], items: list[Any]
    ) -> Chunk:
        document = {
            "_id": bson.ObjectId(),
            "file_id": file_id,
            "part": part,
            "seq": seq,
            "start": start,
            "count": len(items),
            field: items,
        }
        return cls(file_id, part, seq, start, field, len(items), bson.encode(document))

    @property
    def items(self) -> list[Any]:
        """The rows (value lists) or pages, decoded: for tests and tools, never on the parse path."""
        items: list[Any] = bson.decode(self.document)[self.field]
        return items


@dataclass
class _Position:
    seq: int = 0
    start: int = 0


@dataclass
class ChunkCutter:
    """Cuts batches into chunks, numbering them per part; pure CPU work, meant for a worker thread."""

    file_id: str
    max_items: int
    max_bytes: int
    positions: dict[str, _Position] = field(default_factory=dict)
    truncated_cells: int = 0

    @property
    def max_cell_chars(self) -> int:
        """The longest text one cell keeps, so one row always fits a chunk (4 bytes per character at most)."""
        return max(self.max_bytes // 4, 1)

    def rows(self, part: str, frame: pl.DataFrame) -> Iterator[Chunk]:
        frame = self._bound_cells(frame)
        sizes = row_sizes(frame).to_list()
        # Column lists zipped into row tuples (BSON arrays) cost half of what ``frame.rows()`` does.
        rows = list(zip(*(column.to_list() for column in frame.get_columns()), strict=True))
        for offset, length in cuts(sizes, self.max_items, self.max_bytes):
            yield self._chunk(part, "rows", rows[offset : offset + length])

    def pages(self, pages: list[Page]) -> Iterator[Chunk]:
        sizes = [page_size(page) for page in pages]
        for offset, length in cuts(sizes, self.max_items, self.max_bytes):
            items = [page_item(p) for p in pages[offset : offset + length]]
            yield self._chunk(PAGES_PART, "pages", items)

    def _chunk(self, part: str, field: Literal["rows", "pages"], items: list[Any]) -> Chunk:
        position = self.positions.setdefault(part, _Position())
        chunk = Chunk.encode(self.file_id, part, position.seq, position.start, field, items)
        position.seq += 1
        position.start += len(items)
        return chunk

    def _bound_cells(self, frame: pl.DataFrame) -> pl.DataFrame:
        limit = self.max_cell_chars
        texts = [name for name, dtype in frame.schema.items() if dtype == pl.String]
        if not texts:
            return frame
        too_long = frame.select(
            pl.sum_horizontal((pl.col(name).str.len_chars() > limit).fill_null(False).sum() for name in texts)
        ).item()
        if not too_long:
            return frame
        self.truncated_cells += int(too_long)
        return frame.with_columns(pl.col(name).str.slice(0, limit) for name in texts)


def row_sizes(frame: pl.DataFrame) -> pl.Series:
    """A rough BSON size of each row: text lengths plus a fixed cost per value."""
    fixed = _ROW_OVERHEAD + _VALUE_OVERHEAD * frame.width
    texts = [
        pl.col(name).str.len_bytes().fill_null(0).cast(pl.Int64)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    ]
    if not texts:
        return pl.Series("size", [fixed] * frame.height, dtype=pl.Int64)
    return frame.select((pl.sum_horizontal(texts) + fixed).alias("size")).to_series()


def page_item(page: Page) -> dict[str, Any]:
    """The stored form of a page: ``{number, text}``, plus ``tables``, ``has_text`` and ``blocks`` when the
    format has them."""
    item: dict[str, Any] = {"number": page.number, "text": page.text}
    if page.tables is not None:
        item["tables"] = page.tables
    if page.has_text is not None:
        item["has_text"] = page.has_text
    if page.blocks is not None:
        item["blocks"] = [block_item(block) for block in page.blocks]
    return item


def block_item(block: Block) -> dict[str, Any]:
    """``{type, level?, text?, rows?}``: only the fields the block has."""
    item: dict[str, Any] = {"type": block.type}
    if block.level is not None:
        item["level"] = block.level
    if block.text is not None:
        item["text"] = block.text
    if block.rows is not None:
        item["rows"] = block.rows
    return item


def page_size(page: Page) -> int:
    """A rough BSON size of a stored page, tables and blocks included."""
    size = len(page.text.encode()) + _ROW_OVERHEAD * 2
    for table in page.tables or ():
        size += _table_size(table)
    for block in page.blocks or ():
        size += _ROW_OVERHEAD * 2 + len((block.text or "").encode())
        if block.rows is not None:
            size += _table_size(block.rows)
    return size


def _table_size(rows: list[list[Any]]) -> int:
    size = 0
    for row in rows:
        size += _ROW_OVERHEAD
        size += sum(_VALUE_OVERHEAD + (len(cell.encode()) if isinstance(cell, str) else 0) for cell in row)
    return size


def cuts(sizes: list[int], max_items: int, max_bytes: int) -> Iterator[tuple[int, int]]:
    """``(offset, length)`` slices of at most ``max_items`` items and ``max_bytes`` (never empty)."""
    start, total = 0, len(sizes)
    if total and max(sizes) * max_items <= max_bytes:  # the usual case: any ``max_items`` items fit
        yield from ((start, min(max_items, total - start)) for start in range(0, total, max_items))
        return
    while start < total:
        end, size = start, 0
        while end < total and end - start < max_items and (end == start or size + sizes[end] <= max_bytes):
            size += sizes[end]
            end += 1
        yield start, end - start
        start = end


class ChunkStore:
    """Writes a parse's chunks: the file's old ones are removed once, then every chunk is an insert.

    Inserting costs the store about half of what an upsert by key does. Should a
    chunk be there after all (two parses of one file overlapping after a
    redelivery), it is replaced, so the outcome is the same either way.
    """

    def __init__(self, db: Db, collection: str = CHUNKS) -> None:
        self._chunks = db[collection]

    async def begin(self, file_id: str) -> None:
        """Remove whatever an earlier, interrupted parse of the file left."""
        await self._chunks.delete_many({"file_id": file_id})

    async def write(self, chunk: Chunk) -> None:
        await self.write_many([chunk])

    async def write_many(self, chunks: list[Chunk]) -> None:
        documents = [RawBSONDocument(chunk.document) for chunk in chunks]
        try:
            await self._chunks.insert_many(documents, ordered=True)
        except (BulkWriteError, DuplicateKeyError):
            for chunk, document in zip(chunks, documents, strict=True):
                key = {"file_id": chunk.file_id, "part": chunk.part, "seq": chunk.seq}
                await self._chunks.delete_one(key)
                await self._chunks.insert_one(document)

    async def delete_file(self, file_id: str) -> int:
        result = await self._chunks.delete_many({"file_id": file_id})
        return result.deleted_count

    async def count(self, file_id: str) -> int:
        return await self._chunks.count_documents({"file_id": file_id})
