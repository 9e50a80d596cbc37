"""Documents with structure but no pages of their own (Word, Markdown, HTML): blocks gathered into pages.

A reader turns its file into ``Block``s (and ``PAGE_BREAK`` where the author
asked for a new page); ``read_blocks`` does the rest, the same way for every
such format:

- A page is whole blocks, about ``PAGE_CHARS`` characters of text (a printed
  page or two): it ends before the block that would take it past that, at an
  explicit page break, or at ``PAGE_BLOCKS`` blocks.
- A block longer than a page may hold (``ReadOptions.max_text_bytes`` of UTF-8)
  continues on the next pages: its text cut at a line end or a space where one
  fits, a table between rows (a row longer than a page has its cells shortened).
- A page's ``text`` is its blocks' plain text, separated by blank lines (a
  table as tab-separated lines); its ``tables`` are the rows of its table blocks.
- The pages are counted before the first is yielded (stopping past
  ``max_pages``, so a document that is far too long fails fast and nothing
  is stored): the reader's blocks are written to a spool file in the parse's
  work folder on the way, and read back from it, so the file is parsed once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Final, Literal, TextIO

from ferry_parser.errors import EmptyFile, TooManyPages
from ferry_parser.formats.base import Block, DocumentHeader, Item, Page, Pages, ReadOptions

PAGE_CHARS = 4000
"""About one or two printed pages of text."""
PAGE_BLOCKS = 200
PAGES_PER_BATCH = 50
_MIN_PAGE_BYTES = 4  # one character of any kind always fits


class PageBreak:
    """Where the document asks for a new page (a page break in Word)."""


PAGE_BREAK: Final = PageBreak()

Content = Block | PageBreak


@dataclass
class BlockStats:
    """What the pages hold, for the summary's metadata and warnings."""

    headings: int = 0
    paragraphs: int = 0
    list_items: int = 0
    tables: int = 0
    code: int = 0
    quotes: int = 0
    split: int = 0
    """Blocks longer than a page, continued over several."""
    shortened_cells: int = 0
    first_heading: str | None = None

    def count(self, block: Block) -> None:
        if block.type == "heading":
            self.headings += 1
            if self.first_heading is None and block.text:
                self.first_heading = block.text[:1000]
        elif block.type == "paragraph":
            self.paragraphs += 1
        elif block.type == "list_item":
            self.list_items += 1
        elif block.type == "table":
            self.tables += 1
        elif block.type == "code":
            self.code += 1
        else:
            self.quotes += 1

    def metadata(self) -> dict[str, Any]:
        return {
            "headings": self.headings,
            "paragraphs": self.paragraphs,
            "list_items": self.list_items,
            "tables": self.tables,
            "code_blocks": self.code,
            "quotes": self.quotes,
        }

    def warnings(self, cap: int) -> list[str]:
        found = []
        if self.split:
            found.append(f"{self.split} block(s) longer than {cap:,} bytes continue over several pages.")
        if self.shortened_cells:
            found.append(
                f"{self.shortened_cells} table cell(s) were shortened: a table row held more than {cap:,} bytes."
            )
        return found


def read_blocks(
    blocks: Iterable[Content],
    options: ReadOptions,
    *,
    kind: Literal["text", "document"],
    metadata: dict[str, Any],
    what: str,
) -> Iterator[Item]:
    """A document header, then the pages of ``blocks`` in batches.

    ``what`` names the file in messages ("document"); ``EmptyFile`` when it has no text,
    ``TooManyPages`` when it makes more than ``options.max_pages`` pages. ``metadata`` is
    read once every block has been read (a reader may add to it until its last block).
    """
    cap = max(options.max_text_bytes, _MIN_PAGE_BYTES)
    stats = BlockStats()
    spool = options.workdir / "blocks.jsonl"
    with spool.open("w", encoding="utf-8", errors="surrogatepass") as out:
        spooled = _spooled(blocks, out)
        total = sum(1 for _ in islice(paginate(spooled, cap, stats), options.max_pages + 1))
    if total > options.max_pages:
        raise TooManyPages(
            f"The {what} makes more than {options.max_pages} pages of about {PAGE_CHARS:,} characters; "
            f"at most {options.max_pages} pages can be parsed."
        )
    if total == 0:
        raise EmptyFile(f"The {what} has no text.")
    found = {**metadata, **stats.metadata(), "page_count": total}
    if not found.get("title") and stats.first_heading:
        found["title"] = stats.first_heading
    yield DocumentHeader(
        kind=kind,
        pages_total=total,
        metadata=found,
        warnings=stats.warnings(cap),
    )
    batch: list[Page] = []
    for page in paginate(_unspooled(spool), cap):
        batch.append(page)
        if len(batch) == PAGES_PER_BATCH:
            yield Pages(batch)
            batch = []
    if batch:
        yield Pages(batch)
    spool.unlink()


def _spooled(content: Iterable[Content], out: TextIO) -> Iterator[Content]:
    """``content``, each item also written to ``out`` as a JSON line (``null`` for a page break)."""
    for item in content:
        value = None if isinstance(item, PageBreak) else [item.type, item.text, item.level, item.rows]
        out.write(json.dumps(value, ensure_ascii=False))
        out.write("\n")
        yield item


def _unspooled(spool: Path) -> Iterator[Content]:
    with spool.open(encoding="utf-8", errors="surrogatepass") as source:
        for line in source:
            value = json.loads(line)
            yield PAGE_BREAK if value is None else Block(value[0], text=value[1], level=value[2], rows=value[3])


def paginate(content: Iterable[Content], cap: int, stats: BlockStats | None = None) -> Iterator[Page]:
    """Pages of whole blocks, each page's text at most ``cap`` UTF-8 bytes (see the module's docstring)."""
    page = _PageBuilder(cap)
    stats = stats if stats is not None else BlockStats()
    for item in content:
        if isinstance(item, PageBreak):
            yield from page.close()
            continue
        if not _has_content(item):
            continue
        stats.count(item)
        pieces = list(_split(item, cap, stats))
        stats.split += len(pieces) > 1
        for piece in pieces:
            if not page.fits(piece):
                yield from page.close()
            page.add(piece)
    yield from page.close()


def block_text(block: Block) -> str:
    """A block as plain text: a table's rows as lines of tab-separated cells."""
    if block.rows is not None:
        return "\n".join(_row_text(row) for row in block.rows)
    return block.text or ""


@dataclass
class _PageBuilder:
    cap: int
    number: int = 0
    blocks: list[Block] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    chars: int = 0
    size: int = 0

    def fits(self, block: Block) -> bool:
        if not self.blocks:
            return True
        text = block_text(block)
        return (
            len(self.blocks) < PAGE_BLOCKS
            and self.chars + 2 + len(text) <= PAGE_CHARS
            and self.size + 2 + len(text.encode()) <= self.cap
        )

    def add(self, block: Block) -> None:
        text = block_text(block)
        separator = 2 if self.blocks else 0
        self.blocks.append(block)
        self.texts.append(text)
        self.chars += separator + len(text)
        self.size += separator + len(text.encode())

    def close(self) -> Iterator[Page]:
        if not self.blocks:
            return
        self.number += 1
        tables = [block.rows for block in self.blocks if block.rows is not None]
        yield Page(number=self.number, text="\n\n".join(self.texts), tables=tables, blocks=self.blocks)
        self.blocks, self.texts, self.chars, self.size = [], [], 0, 0


def _has_content(block: Block) -> bool:
    if block.rows is not None:
        return any(cell for row in block.rows for cell in row)
    return bool(block.text and block.text.strip())


def _split(block: Block, cap: int, stats: BlockStats) -> Iterator[Block]:
    """``block`` in pieces of at most ``cap`` bytes of text (itself, when it fits)."""
    if len(block_text(block).encode()) <= cap:
        yield block
    elif block.rows is not None:
        yield from _split_table(block, cap, stats)
    else:
        rest = block.text or ""
        while rest:
            head = _cut_text(rest, cap)
            if head.strip():
                yield Block(block.type, text=head.rstrip(), level=block.level)
            rest = rest[len(head) :].lstrip()


def _split_table(block: Block, cap: int, stats: BlockStats) -> Iterator[Block]:
    rows: list[list[str | None]] = []
    size = 0
    for row in block.rows or ():
        length = len(_row_text(row).encode())
        if length > cap:
            row = _shorten(row, cap, stats)
            length = len(_row_text(row).encode())
        if rows and size + 1 + length > cap:
            yield Block("table", rows=rows)
            rows, size = [], 0
        size += length + (1 if rows else 0)
        rows.append(row)
    if rows:
        yield Block("table", rows=rows)


def _shorten(row: list[str | None], cap: int, stats: BlockStats) -> list[str | None]:
    """Each cell cut to an equal share of ``cap`` (tabs included), so the row fits a page."""
    share = max((cap - len(row)) // max(len(row), 1), 0)
    shortened: list[str | None] = []
    for cell in row:
        if cell is not None and len(cell.encode()) > share:
            stats.shortened_cells += 1
            cell = _cut_bytes(cell, share)
        shortened.append(cell)
    return shortened


def _cut_text(text: str, cap: int) -> str:
    """The start of ``text`` within ``cap`` bytes, ending at a line end or a space in its second half if any."""
    head = _cut_bytes(text, cap)
    if len(head) == len(text):
        return head
    for separator in ("\n", " "):
        at = head.rfind(separator)
        if at >= len(head) // 2:
            return head[: at + 1]
    return head or text[:1]


def _cut_bytes(text: str, cap: int) -> str:
    """The longest start of ``text`` within ``cap`` UTF-8 bytes (a character is never split)."""
    return text.encode()[:cap].decode("utf-8", errors="ignore")


def _row_text(row: list[str | None]) -> str:
    return "\t".join(cell or "" for cell in row)
