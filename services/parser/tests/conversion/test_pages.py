"""Pages → txt, md and pdf: every page's text kept, blocks rendered as what they name."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from markdown_it import MarkdownIt

from ferry_parser.conversion import write_pages
from ferry_parser.conversion.markdown import escape_inline, pipe_table

from .conftest import parse_pages

PDF_TEXTS = [
    "Introduction to Ferry\nIt moves files.",
    "Zürich — Привет — 日本語\n1. not a list\n# not a heading, a *star* and snake_case",
    "The last page <b>not bold</b> | a pipe",
]
BLOCKS: list[dict[str, Any]] = [
    {"type": "heading", "level": 1, "text": "Quarterly report"},
    {"type": "paragraph", "text": "Revenue grew by 12% in *all* regions."},
    {"type": "heading", "level": 2, "text": "Regions"},
    {"type": "list_item", "text": "North"},
    {"type": "list_item", "text": "South", "level": 2},
    {"type": "table", "rows": [["Region", "Q1", "Q2"], ["North", "10", "12"], ["South | East", None, "7"]]},
    {"type": "code", "text": "total = sum(q)\nprint(`total`)"},
    {"type": "quote", "text": "Numbers never lie."},
]


def pdf_with(path: Path, texts: list[str]) -> Path:
    doc = pymupdf.open()  # type: ignore[no-untyped-call]
    for text in texts:
        doc.new_page().insert_text((72, 72), text, fontname="china-s")
    doc.save(path)  # type: ignore[no-untyped-call]
    return path


def rendered_text(markdown: str) -> str:
    """What a Markdown renderer shows: the HTML's text, entities resolved, blank runs collapsed."""
    import html

    shown = re.sub(r"<[^>]+>", " ", MarkdownIt("commonmark").enable("table").render(markdown))
    return " ".join(html.unescape(shown).split())


def pdf_text(path: Path) -> str:
    with pymupdf.open(path) as doc:  # type: ignore[no-untyped-call]
        return "".join(page.get_text() for page in doc)


@pytest.fixture
def pdf_pages(tmp_path: Path) -> list[dict[str, Any]]:
    pages = parse_pages(pdf_with(tmp_path / "in.pdf", PDF_TEXTS), "pdf", tmp_path / "work")
    assert [p["number"] for p in pages] == [1, 2, 3]
    return pages


def test_pdf_to_txt_separates_pages_with_form_feeds(tmp_path: Path, pdf_pages: list[dict[str, Any]]) -> None:
    out = tmp_path / "out.txt"
    write_pages(iter(pdf_pages), "txt", out, title="in.pdf")

    pages = out.read_text(encoding="utf-8").split("\f")
    assert [page.strip() for page in pages] == [p["text"].strip() for p in pdf_pages]
    assert "in.pdf" not in out.read_text()


def test_pdf_to_md_keeps_every_page_s_text(tmp_path: Path, pdf_pages: list[dict[str, Any]]) -> None:
    out = tmp_path / "out.md"
    write_pages(iter(pdf_pages), "md", out, title="in.pdf")

    markdown = out.read_text(encoding="utf-8")
    assert markdown.startswith("# in.pdf\n")
    assert re.findall(r"^## Page (\d+)$", markdown, flags=re.MULTILINE) == ["1", "2", "3"]
    shown = rendered_text(markdown)
    for page in pdf_pages:
        assert " ".join(page["text"].split()) in shown
    # Escaped, so a line of text never turns into a list, a heading or emphasis.
    html = MarkdownIt("commonmark").render(markdown)
    assert "<ol>" not in html and "<em>" not in html and "<b>" not in html
    assert html.count("<h2>") == 3 and html.count("<h1>") == 1


def test_blocks_to_md_render_headings_lists_tables_and_code(tmp_path: Path) -> None:
    out = tmp_path / "out.md"
    write_pages(iter([{"number": 1, "text": "ignored", "blocks": BLOCKS}]), "md", out, title="report", kind="document")

    markdown = out.read_text(encoding="utf-8")
    assert "## Page" not in markdown
    assert "\n# Quarterly report\n" in markdown and "\n## Regions\n" in markdown
    assert "- North\n  - South\n" in markdown
    assert "| Region | Q1 | Q2 |\n|---|---|---|\n| North | 10 | 12 |\n| South \\| East |  | 7 |" in markdown
    html = MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<h1>Quarterly report</h1>" in html and "<h2>Regions</h2>" in html
    assert "<th>Region</th>" in html and "<td>South | East</td>" in html
    assert "<code>total = sum(q)\nprint(`total`)\n</code>" in html
    assert "<blockquote>" in html and "<li>South</li>" in html
    assert "<em>" not in html  # the paragraph's stars are text


def test_flowing_text_joins_pages_as_paragraphs(tmp_path: Path) -> None:
    pages = [{"number": 1, "text": "First paragraph,\nsecond line."}, {"number": 2, "text": "Second paragraph."}]
    write_pages(iter(pages), "txt", tmp_path / "out.txt", title="t", kind="text")
    write_pages(iter(pages), "md", tmp_path / "out.md", title="notes.txt", kind="text")

    assert (tmp_path / "out.txt").read_text() == "First paragraph,\nsecond line.\n\nSecond paragraph.\n"
    assert (tmp_path / "out.md").read_text() == ("# notes.txt\n\nFirst paragraph,\nsecond line.\n\nSecond paragraph.\n")


def test_text_to_pdf_holds_the_text(tmp_path: Path) -> None:
    pages = [{"number": n, "text": text} for n, text in enumerate(PDF_TEXTS, start=1)]
    out = tmp_path / "out.pdf"
    write_pages(iter(pages), "pdf", out, title="notes.txt", kind="text")

    with pymupdf.open(out) as doc:  # type: ignore[no-untyped-call]
        assert doc.metadata["title"] == "notes.txt"
    text = " ".join(pdf_text(out).split())
    assert text.startswith("notes.txt")
    for page in PDF_TEXTS:
        assert " ".join(page.split()) in text


def test_blocks_to_pdf_hold_headings_lists_and_table_cells(tmp_path: Path) -> None:
    out = tmp_path / "out.pdf"
    write_pages(iter([{"number": 1, "text": "", "blocks": BLOCKS}]), "pdf", out, title="report", kind="document")

    text = pdf_text(out)
    for expected in (
        "Quarterly report",
        "Revenue grew by 12% in *all* regions.",
        "North",
        "South | East",
        "print(`total`)",
    ):
        assert expected in text


def test_a_long_document_to_pdf_spans_pages_and_keeps_its_order(tmp_path: Path) -> None:
    """More text than one Story group, so groups continue one another."""
    pages = [{"number": n, "text": f"Paragraph {n}. " + "lorem ipsum " * 80} for n in range(1, 401)]
    out = tmp_path / "out.pdf"
    write_pages(iter(pages), "pdf", out, title="long", kind="text")

    with pymupdf.open(out) as doc:  # type: ignore[no-untyped-call]
        assert doc.page_count > 50
    numbers = [int(n) for n in re.findall(r"Paragraph (\d+)\.", pdf_text(out))]
    assert numbers == list(range(1, 401))


def test_control_characters_do_not_stop_the_pdf(tmp_path: Path) -> None:
    out = tmp_path / "out.pdf"
    write_pages(iter([{"number": 1, "text": "before\x00\x07\x1b after"}]), "pdf", out, title="", kind="text")
    assert "before after" in pdf_text(out)


def test_no_pages_still_make_valid_files(tmp_path: Path) -> None:
    for target in ("txt", "md", "pdf"):
        write_pages(iter([]), target, tmp_path / f"out.{target}", title="empty")
    assert (tmp_path / "out.txt").read_text() == ""
    assert (tmp_path / "out.md").read_text() == "# empty\n"
    assert "empty" in pdf_text(tmp_path / "out.pdf")


@pytest.mark.parametrize(
    ("line", "escaped"),
    [
        ("1. one", "1\\. one"),
        ("- dash", "\\- dash"),
        ("# hash", "\\# hash"),
        ("> quote", "\\> quote"),
        ("---", "\\---"),
        ("a_b *c* [d](e) `f` <g>", "a\\_b \\*c\\* \\[d\\](e) \\`f\\` \\<g\\>"),
        ("plain 1. text", "plain 1. text"),
    ],
)
def test_escape_inline(line: str, escaped: str) -> None:
    assert escape_inline(line) == escaped
    assert rendered_text(escaped) == line


def test_pipe_table_pads_short_rows() -> None:
    assert pipe_table([["a", "b"], ["1"]]) == "| a | b |\n|---|---|\n| 1 |  |"
    assert pipe_table([]) == ""


def test_unknown_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="csv"):
        write_pages(iter([]), "csv", tmp_path / "out.csv", title="x")
