"""What every format reader yields, so that adding a format is adding one module.

A reader is a plain generator run in a worker thread. It yields a header for
each part of the file, then that part's content:

- ``TableHeader`` followed by ``polars.DataFrame`` batches whose columns are
  already storable (see ``inference.storable``) and in the header's order;
- ``DocumentHeader`` followed by ``Pages`` batches (kind ``text``, ``document`` or ``pages``).
  Formats with structure (Word, Markdown, HTML) also give each page its ``blocks``.

Bad content raises a ``ferry_parser.errors.ParseError``. Warnings found while
reading may be appended to the current header's ``warnings``: they are read
when the summary is built, after the last batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from ferry_core.events import ColumnInfo


@dataclass
class TableHeader:
    """One table: a single table's ``part`` is ``""``, a workbook's sheets use their names."""

    columns: list[ColumnInfo]
    part: str = ""
    rows_total: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class DocumentHeader:
    """Content stored as numbered pages of text (the ``pages`` part)."""

    kind: Literal["text", "document", "pages"]
    pages_total: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


BlockType = Literal["heading", "paragraph", "list_item", "table", "code", "quote"]


@dataclass(frozen=True)
class Block:
    """One structural element of a page, in reading order: ``text`` for all but tables, ``rows`` for tables.

    ``level`` is a heading's level (1-6) or a list item's nesting depth (1 = top level).
    """

    type: BlockType
    text: str | None = None
    level: int | None = None
    rows: list[list[str | None]] | None = None


@dataclass(frozen=True)
class Page:
    """One numbered page; ``tables``, ``has_text`` and ``blocks`` are ``None`` for formats without such a notion."""

    number: int
    text: str
    tables: list[list[list[Any]]] | None = None
    """Tables found on the page, each a list of rows of cell values (``None`` for a merged cell)."""
    has_text: bool | None = None
    """``False`` for a page without a text layer (a scanned image, or blank)."""
    blocks: list[Block] | None = None
    """The page's headings, paragraphs, list items, tables, code and quotes; ``text`` is their plain text."""


@dataclass(frozen=True)
class Pages:
    pages: list[Page]


Header = TableHeader | DocumentHeader
Item = TableHeader | DocumentHeader | pl.DataFrame | Pages


@dataclass(frozen=True)
class ReadOptions:
    format: str
    workdir: Path
    """A private folder for intermediate files (transcoded copies); removed after the parse."""
    batch_rows: int = 20_000
    max_text_bytes: int = 1_000_000
    """The most text one page may hold (a document preview is cut there)."""
    max_pages: int = 5000
    """The most pages a document (PDF) may have; more is refused before any page is read."""
    max_uncompressed_bytes: int = 1 << 30
    """The most a zipped format (xlsx, ods) may inflate to, in all; more is a zip bomb."""
    max_compression_ratio: float = 100.0
    """The highest inflate ratio one large zip member may have."""
    types_from_all_rows: bool = False
    """Type text columns from every row before yielding any (two passes), instead of from the first block
    and raising ``Retype`` should a later row not fit (one pass, and storing starts sooner)."""


Reader = Callable[[Path, ReadOptions], Iterator[Item]]
