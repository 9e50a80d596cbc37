"""Plain text (a ``txt`` file that is not delimited): one page per paragraph.

Paragraphs are separated by blank lines (any number of them). A paragraph
longer than a page may hold (``ReadOptions.max_text_bytes`` of UTF-8)
continues on the next page, cut at a line end where one fits and inside the
line where none does, so nothing but that line end is lost. The file is read at
most a page's worth at a time, so one enormous line costs no more memory than
a page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ferry_parser.formats.base import DocumentHeader, Item, Page, Pages, ReadOptions

_PAGES_PER_BATCH = 50
_MIN_PAGE_BYTES = 4  # one character of any kind always fits


@dataclass
class TextStats:
    lines: int = 0
    paragraphs: int = 0
    split: int = 0
    """Paragraphs longer than a page, continued over several."""


def read_text_pages(path: Path, encoding: str, options: ReadOptions) -> Iterator[Item]:
    """Pages of the text file at ``path`` written in ``encoding``."""
    cap = max(options.max_text_bytes, _MIN_PAGE_BYTES)
    stats = TextStats()
    pages_total = sum(1 for _ in paginate(path, encoding, cap, stats))
    warnings = []
    if stats.split:
        warnings.append(
            f"{stats.split} paragraph(s) longer than {cap:,} bytes continue over several pages "
            "(cut at a line end where possible)."
        )
    yield DocumentHeader(
        kind="text",
        pages_total=pages_total,
        metadata={"encoding": encoding, "lines": stats.lines, "paragraphs": stats.paragraphs},
        warnings=warnings,
    )
    batch: list[Page] = []
    for number, page in enumerate(paginate(path, encoding, cap), start=1):
        batch.append(Page(number, page))
        if len(batch) == _PAGES_PER_BATCH:
            yield Pages(batch)
            batch = []
    if batch:
        yield Pages(batch)


def paginate(path: Path, encoding: str, cap: int, stats: TextStats | None = None) -> Iterator[str]:
    """Page texts of at most ``cap`` UTF-8 bytes: each paragraph, or the parts of a longer one."""
    stats = stats if stats is not None else TextStats()
    pieces: list[str] = []  # the page being filled
    size = 0
    continued = False  # the page being filled continues a paragraph
    at_line_start = True
    with path.open(encoding=encoding, errors="replace", newline=None) as source:
        while piece := source.readline(cap):  # at most ``cap`` characters: a line, or part of a long one
            ends_line = piece.endswith("\n")
            whole_line = at_line_start and (ends_line or len(piece) < cap)
            if at_line_start:
                stats.lines += 1
            at_line_start = ends_line
            if whole_line and not piece.strip():
                if pieces:
                    yield _page(pieces)
                    pieces, size, continued = [], 0, False
                continue
            if not pieces and not continued:
                stats.paragraphs += 1
            length = len(piece.encode())
            if pieces and size + length > cap:
                yield _page(pieces)
                pieces, size = [], 0
                stats.split += not continued
                continued = True
            while length > cap:
                head = _cut(piece, cap)
                if not continued:
                    stats.split += 1
                yield head
                piece = piece[len(head) :]
                length -= len(head.encode())
                continued = True
            pieces.append(piece)
            size += length
    if pieces:
        yield _page(pieces)


def _cut(text: str, cap: int) -> str:
    """The longest start of ``text`` within ``cap`` UTF-8 bytes (a character is never split)."""
    return text.encode()[:cap].decode("utf-8", errors="ignore")


def _page(pieces: list[str]) -> str:
    return "".join(pieces).removesuffix("\n")
