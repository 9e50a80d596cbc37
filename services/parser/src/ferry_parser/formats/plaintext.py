"""Plain text (a ``txt`` file that is not delimited): numbered pages of up to 100 lines."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ferry_parser.formats.base import DocumentHeader, Item, Page, Pages, ReadOptions

LINES_PER_PAGE = 100
_PAGES_PER_BATCH = 50


def read_text_pages(path: Path, encoding: str, options: ReadOptions) -> Iterator[Item]:
    """Pages of the UTF-8 file at ``path``; ``encoding`` is what the original was, for the metadata."""
    cap = max(options.max_text_bytes // 2, 1)  # characters, leaving room for multi-byte ones
    pages_total = lines = 0
    for _, count in paginate(path, cap):
        pages_total, lines = pages_total + 1, lines + count
    yield DocumentHeader(
        kind="text",
        pages_total=pages_total,
        metadata={"encoding": encoding, "lines": lines, "lines_per_page": LINES_PER_PAGE},
    )
    batch: list[Page] = []
    for number, (text, _) in enumerate(paginate(path, cap), start=1):
        batch.append(Page(number, text))
        if len(batch) == _PAGES_PER_BATCH:
            yield Pages(batch)
            batch = []
    if batch:
        yield Pages(batch)


def paginate(path: Path, cap: int) -> Iterator[tuple[str, int]]:
    """Page texts with their line counts: up to ``LINES_PER_PAGE`` lines and ``cap`` characters.

    A line longer than ``cap`` is split over several pages, so nothing is lost.
    """
    lines: list[str] = []
    size = 0
    with path.open(encoding="utf-8", newline=None) as source:
        for line in source:
            while len(line) > cap:
                if lines:
                    yield _page(lines)
                    lines, size = [], 0
                yield line[:cap], 0  # the rest of the line is counted below
                line = line[cap:]
            if lines and (len(lines) == LINES_PER_PAGE or size + len(line) > cap):
                yield _page(lines)
                lines, size = [], 0
            lines.append(line)
            size += len(line)
    if lines:
        yield _page(lines)


def _page(lines: list[str]) -> tuple[str, int]:
    return "".join(lines).removesuffix("\n"), len(lines)
