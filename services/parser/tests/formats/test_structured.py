"""Blocks into pages: whole blocks up to a page's worth, explicit breaks, long blocks continued, limits held."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferry_parser.errors import EmptyFile, TooManyPages
from ferry_parser.formats import Block, DocumentHeader, Pages, ReadOptions
from ferry_parser.formats.structured import (
    PAGE_BLOCKS,
    PAGE_BREAK,
    PAGE_CHARS,
    BlockStats,
    Content,
    paginate,
    read_blocks,
)


def paragraph(text: str) -> Block:
    return Block("paragraph", text=text)


def test_blocks_fill_a_page_up_to_the_character_target() -> None:
    blocks = [paragraph("x" * 1500) for _ in range(5)]
    pages = list(paginate(blocks, cap=1_000_000))
    assert [len(page.blocks or []) for page in pages] == [2, 2, 1]
    assert all(len(page.text) <= PAGE_CHARS for page in pages)
    assert pages[0].text == "x" * 1500 + "\n\n" + "x" * 1500
    assert [page.number for page in pages] == [1, 2, 3]


def test_page_text_is_plain_text_and_tables_are_kept_as_tables() -> None:
    table = Block("table", rows=[["a", "b"], ["1", None]])
    blocks: list[Content] = [Block("heading", text="Title", level=1), paragraph("Body."), table]
    [page] = paginate(blocks, cap=1_000_000)
    assert page.text == "Title\n\nBody.\n\na\tb\n1\t"
    assert page.tables == [[["a", "b"], ["1", None]]]
    assert page.blocks == blocks


def test_a_page_break_ends_the_page_and_empty_blocks_are_dropped() -> None:
    blocks = [
        paragraph("one"),
        PAGE_BREAK,
        PAGE_BREAK,
        paragraph("  "),
        Block("table", rows=[["", None]]),
        paragraph("two"),
    ]
    pages = list(paginate(blocks, cap=100))
    assert [page.text for page in pages] == ["one", "two"]
    assert pages[1].tables == []


def test_a_page_holds_at_most_page_blocks_blocks() -> None:
    pages = list(paginate([paragraph("a")] * (PAGE_BLOCKS + 1), cap=1_000_000))
    assert [len(page.blocks or []) for page in pages] == [PAGE_BLOCKS, 1]


def test_a_block_over_the_byte_cap_continues_at_a_line_end_or_space() -> None:
    stats = BlockStats()
    text = "first line\nsecond line\nthird"
    pages = list(paginate([Block("quote", text=text), paragraph("after")], cap=16, stats=stats))
    assert [page.text for page in pages] == ["first line", "second line", "third\n\nafter"]
    assert [[block.type for block in page.blocks or []] for page in pages] == [
        ["quote"],
        ["quote"],
        ["quote", "paragraph"],
    ]
    assert (stats.split, stats.quotes, stats.paragraphs) == (1, 1, 1)


def test_pages_are_bounded_by_utf8_bytes_and_never_split_a_character() -> None:
    pages = list(paginate([paragraph("é" * 25)], cap=9))
    assert all(len(page.text.encode()) <= 9 for page in pages)
    assert "".join(page.text for page in pages) == "é" * 25


def test_a_long_table_continues_between_rows_and_an_overlong_row_is_shortened() -> None:
    stats = BlockStats()
    rows: list[list[str | None]] = [[f"r{n}", "value"] for n in range(6)]
    rows.append(["x" * 50, "y" * 50])
    pages = list(paginate([Block("table", rows=rows)], cap=30, stats=stats))
    kept = [row for page in pages for table in page.tables or [] for row in table]
    assert kept[:6] == rows[:6]
    assert all(len(page.text.encode()) <= 30 for page in pages)
    assert kept[6] == ["x" * 14, "y" * 14]
    assert (stats.tables, stats.split, stats.shortened_cells) == (1, 1, 2)
    assert "2 table cell(s) were shortened" in " ".join(stats.warnings(30))


def read_all(blocks: list[Content], tmp_path: Path, **options: int) -> tuple[DocumentHeader, list[str]]:
    items = list(
        read_blocks(
            blocks,
            ReadOptions(format="md", workdir=tmp_path, **options),
            kind="text",
            metadata={"encoding": "utf-8"},
            what="Markdown file",
        )
    )
    header = items[0]
    assert isinstance(header, DocumentHeader)
    return header, [page.text for batch in items[1:] if isinstance(batch, Pages) for page in batch.pages]


def test_read_blocks_counts_pages_first_and_names_the_first_heading_the_title(tmp_path: Path) -> None:
    blocks: list[Content] = [paragraph("intro"), Block("heading", text="The title", level=2), PAGE_BREAK]
    blocks += [b for n in range(120) for b in (paragraph(f"page {n}"), PAGE_BREAK)]
    header, texts = read_all(blocks, tmp_path)
    assert header.kind == "text"
    assert header.pages_total == len(texts) == 121
    assert header.metadata["title"] == "The title"
    assert header.metadata["encoding"] == "utf-8"
    assert header.metadata["page_count"] == 121
    assert (header.metadata["headings"], header.metadata["paragraphs"]) == (1, 121)


def test_more_pages_than_allowed_fail_before_any_is_yielded(tmp_path: Path) -> None:
    blocks: list[Content] = [b for n in range(11) for b in (paragraph(str(n)), PAGE_BREAK)]
    with pytest.raises(TooManyPages, match=r"^The Markdown file makes more than 10 pages .*at most 10 pages"):
        read_all(blocks, tmp_path, max_pages=10)
    header, _ = read_all(blocks[:-2], tmp_path, max_pages=10)
    assert header.pages_total == 10


def test_no_text_at_all_is_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(EmptyFile, match=r"^The Markdown file has no text\.$"):
        read_all([paragraph(" "), PAGE_BREAK], tmp_path)
