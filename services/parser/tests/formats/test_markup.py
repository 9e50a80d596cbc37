"""Markdown and HTML: known documents written here, read back as blocks and pages; limits and hostile markup."""

from __future__ import annotations

import random
import time
import tracemalloc
from pathlib import Path

import pytest

from ferry_parser.errors import CorruptFile, EmptyFile, TooManyPages, Undecodable
from ferry_parser.formats import Block, ReadOptions, html, markdown, reader_for, structured, text

from .conftest import Read, Result


def blocks(result: Result) -> list[Block]:
    return [block for page in result.full_pages for block in page.blocks or []]


# -- Markdown ----------------------------------------------------------------------------------------

MARKDOWN = """\
---
title: "Ferry notes"
author: Ada
tags: [boat, river]
---
# Crossing the river

The *ferry* leaves at [dawn](https://example.com) with `code` &amp; Zoë,
on a second line.

## Rules

- Tickets
  - Bicycles
- Dogs

1. Board
2. Sit

> Mind the gap.
> Always.

```python
# not a heading

print("a blank line above")
```

| Port | Departs |
|------|--------:|
| Ålesund | 08:00 |
| Molde | |

###### Six

<div class="note">Raw <b>HTML</b> block</div>

![A boat](boat.png) 日本語 🚢
"""


def test_markdown_headings_lists_tables_code_quotes_and_front_matter(read: Read) -> None:
    result = read(MARKDOWN.encode(), "md")
    header = result.document
    assert header.kind == "text"
    assert header.metadata["title"] == "Ferry notes"
    assert header.metadata["author"] == "Ada"
    assert header.metadata["keywords"] == "boat, river"
    assert header.metadata["encoding"] == "utf-8"
    assert (header.metadata["headings"], header.metadata["list_items"], header.metadata["tables"]) == (3, 5, 1)
    assert blocks(result) == [
        Block("heading", text="Crossing the river", level=1),
        Block("paragraph", text="The ferry leaves at dawn with code & Zoë,\non a second line."),
        Block("heading", text="Rules", level=2),
        Block("list_item", text="Tickets", level=1),
        Block("list_item", text="Bicycles", level=2),
        Block("list_item", text="Dogs", level=1),
        Block("list_item", text="Board", level=1),
        Block("list_item", text="Sit", level=1),
        Block("quote", text="Mind the gap.\nAlways."),
        Block("code", text='# not a heading\n\nprint("a blank line above")'),
        Block("table", rows=[["Port", "Departs"], ["Ålesund", "08:00"], ["Molde", ""]]),
        Block("heading", text="Six", level=6),
        Block("paragraph", text="Raw HTML block"),
        Block("paragraph", text="A boat 日本語 🚢"),
    ]
    [page] = result.full_pages
    assert page.text.startswith("Crossing the river\n\nThe ferry leaves at dawn")
    assert "Port\tDeparts\nÅlesund\t08:00\nMolde\t" in page.text
    assert page.tables == [[["Port", "Departs"], ["Ålesund", "08:00"], ["Molde", ""]]]


def test_markdown_without_front_matter_takes_its_first_heading_as_title(read: Read) -> None:
    result = read("Intro line\n\n## Real title\n\n---\n\ntext\n".encode("cp1252"), "md")
    assert result.document.metadata["title"] == "Real title"
    assert result.document.metadata["encoding"] == "utf-8"
    assert [block.text for block in blocks(result)] == ["Intro line", "Real title", "text"]
    utf16 = read("# Tïtle\n\nBody\n".encode("utf-16"), "md")
    assert utf16.document.metadata["encoding"] == "utf-16"
    assert utf16.pages == [(1, "Tïtle\n\nBody")]


def test_an_unclosed_front_matter_is_text(read: Read) -> None:
    result = read(b"---\ntitle: no end\n\nBody\n", "md")
    assert "no end" in result.pages[0][1]


def test_segments_end_at_blank_lines_outside_code_fences(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(markdown, "SEGMENT_CHARS", 50)
    fenced = "```\n" + "code line\n\n" * 20 + "```\n"
    source = "para one\n\n" + fenced + "\npara two\n\n" + "x" * 30 + "\n"
    path = tmp_path / "doc.md"
    path.write_text(source)
    with path.open() as handle:
        pieces = list(markdown.segments(handle))
    assert "".join(pieces) == source
    assert any(piece.startswith("para one") and piece.endswith("```\n\n") for piece in pieces)
    found = list(markdown.markdown_blocks(path, "utf-8"))
    assert [block.type for block in found] == ["paragraph", "code", "paragraph", "paragraph"]
    assert found[1].text == ("code line\n\n" * 20).rstrip("\n")


def test_one_huge_line_is_cut_into_segments_and_pages_and_kept(read: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(markdown, "MAX_SEGMENT_CHARS", 10_000)
    words = " ".join(f"w{n}" for n in range(20_000))
    result = read(words.encode(), "md", max_text_bytes=3000)
    assert all(len(text.encode()) <= 3000 for _, text in result.pages)
    assert " ".join(text for _, text in result.pages).split() == words.split()


def test_markdown_limits_and_empty_files(read: Read) -> None:
    many = "".join(f"# Part {n}\n\n" + "word " * 700 + "\n\n" for n in range(12)).encode()
    assert read(many, "md").document.pages_total == 12
    with pytest.raises(TooManyPages, match=r"^The Markdown file makes more than 10 pages"):
        read(many, "md", max_pages=10)
    with pytest.raises(EmptyFile, match=r"^The file is empty\.$"):
        read(b"", "md")
    with pytest.raises(EmptyFile, match=r"^The Markdown file has no text\.$"):
        read(b"\n\n   \n<!-- only a comment -->\n", "md")
    with pytest.raises(Undecodable):
        read(random.Random(7).randbytes(4096), "md")


@pytest.mark.parametrize(
    "data",
    [b">" * 100_000 + b" deep\n\nafter\n", b"- " * 50_000 + b"item\n", b"[" * 100_000 + b"x" + b"]" * 100_000],
    ids=["quotes", "lists", "brackets"],
)
def test_deep_nesting_ends_quickly(read: Read, data: bytes) -> None:
    """markdown-it leaves out what is nested deeper than 20 levels; what follows is read."""
    started = time.monotonic()
    try:
        text = " ".join(page for _, page in read(data, "md").pages)
    except EmptyFile:
        text = ""
    assert time.monotonic() - started < 20
    if data.endswith(b"after\n"):
        assert text.endswith("after")


# -- HTML ----------------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html lang="nb"><head>
<title>Ferry   notes</title>
<meta name="author" content="Ada">
<meta name="description" content="Crossings">
<link rel="stylesheet" href="https://example.com/never-fetched.css">
<style>p { color: red }</style>
<script>document.write("<p>not text</p>")</script>
</head>
<body>
<nav><a href="/">Home</a></nav>
<h1>Crossing the   river</h1>
<p>The <b>ferry</b> leaves at dawn &amp; Zo&euml; waves &#x1F6A2;<br>next line
<p>Second paragraph, its end tag left out
<ul><li>Tickets<li>Bicycles<ul><li>Folding</li></ul></li><li>Dogs</ul>
<ol><li><p>Board</p></li></ol>
<blockquote><p>Mind the gap.</p></blockquote>
<pre>  indented
    code</pre>
<table><caption>Timetable</caption>
<tr><th>Port<th>Departs</tr>
<tr><td>Ålesund</td><td>08:00</td></tr>
<tr><td>Molde</td><td>later<table><tr><td>inner</td></tr></table></td></tr>
</table>
<h6>Six</h6><hr>
<iframe src="https://example.com/frame">frame text</iframe>
<svg><text>drawing</text></svg><noscript>no script</noscript>
<img src="https://example.com/boat.png" alt="boat">
<div>Closing <span>words</span></div>
</body></html>
"""


def test_html_headings_paragraphs_lists_tables_and_metadata(read: Read) -> None:
    result = read(HTML.encode(), "html")
    header = result.document
    assert header.kind == "text"
    assert header.metadata["title"] == "Ferry notes"
    assert header.metadata["author"] == "Ada"
    assert header.metadata["description"] == "Crossings"
    assert header.metadata["language"] == "nb"
    table = [["Port", "Departs"], ["Ålesund", "08:00"], ["Molde", "later\ninner"]]
    assert blocks(result) == [
        Block("paragraph", text="Home"),
        Block("heading", text="Crossing the river", level=1),
        Block("paragraph", text="The ferry leaves at dawn & Zoë waves 🚢\nnext line"),
        Block("paragraph", text="Second paragraph, its end tag left out"),
        Block("list_item", text="Tickets", level=1),
        Block("list_item", text="Bicycles", level=1),
        Block("list_item", text="Folding", level=2),
        Block("list_item", text="Dogs", level=1),
        Block("list_item", text="Board", level=1),
        Block("quote", text="Mind the gap."),
        Block("code", text="  indented\n    code"),
        Block("table", rows=[["Timetable"], *table]),
        Block("heading", text="Six", level=6),
        Block("paragraph", text="Closing words"),
    ]
    text = " ".join(page for _, page in result.pages)
    for absent in ("not text", "color", "frame text", "drawing", "no script", "never-fetched"):
        assert absent not in text


def test_html_of_unknown_encoding_and_a_fragment(read: Read) -> None:
    result = read("<p>Café crème</p>".encode("cp1252"), "html")
    assert result.pages == [(1, "Café crème")]
    assert result.document.metadata["encoding"] == "cp1252"
    assert html.fragment_blocks("<h2>Hi</h2>text") == [
        Block("heading", text="Hi", level=2),
        Block("paragraph", text="text"),
    ]


def test_text_without_tags_is_handed_on_in_bounded_blocks(read: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html, "FLUSH_CHARS", 1000)
    words = " ".join(f"w{n}" for n in range(5000))
    result = read(f"<p>{words}</p>".encode(), "html", max_text_bytes=2500)
    assert all(len(text.encode()) <= 2500 for _, text in result.pages)
    assert " ".join(text for _, text in result.pages).split() == words.split()


def test_a_long_table_is_handed_on_in_parts(read: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html, "FLUSH_CHARS", 200)
    rows = "".join(f"<tr><td>{n}</td><td>value {n}</td></tr>" for n in range(300))
    result = read(f"<table>{rows}</table><p>after</p>".encode(), "html")
    kept = [row for page in result.full_pages for table in page.tables or [] for row in table]
    assert kept == [[str(n), f"value {n}"] for n in range(300)]
    assert blocks(result)[-1] == Block("paragraph", text="after")


def test_an_unclosed_comment_or_script_is_refused_once_it_runs_on(read: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html, "MAX_PENDING_CHARS", 200_000)
    for opening in ("<!--", "<script>", '<div title="'):
        with pytest.raises(CorruptFile, match=r"^The HTML is damaged: a comment, tag or script runs on"):
            read(b"<p>before</p>" + opening.encode() + b"x" * 1_000_000, "html")
    assert read(b"<p>before</p><!--" + b"x" * 100, "html").pages == [(1, "before")]


def test_deeply_nested_html_is_read_flat_beyond_the_depth_limit(read: Read) -> None:
    depth = 100_000
    result = read(b"<div>" * depth + b"<li>deep</li>" + b"</div>" * depth, "html")
    assert result.pages == [(1, "deep")]


def test_html_limits_and_empty_files(read: Read) -> None:
    many = "".join(f"<h2>Part {n}</h2><p>{'word ' * 700}</p>" for n in range(12)).encode()
    assert read(many, "html").document.pages_total == 12
    with pytest.raises(TooManyPages, match=r"^The HTML page makes more than 10 pages"):
        read(many, "html", max_pages=10)
    with pytest.raises(EmptyFile, match=r"^The HTML page has no text\.$"):
        read(b"<!doctype html><html><head><script>x()</script></head><body> </body></html>", "html")
    with pytest.raises(EmptyFile, match=r"^The file is empty\.$"):
        read(b"", "html")


# -- memory: a file is never held whole ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "unit"),
    [
        ("md", "## Section {n}\n\nParagraph {n} " + "word " * 80 + "\n\n- item\n- item two\n\n"),
        ("html", "<h2>Section {n}</h2><p>Paragraph {n} " + "word " * 80 + "</p><ul><li>item<li>two</ul>"),
    ],
)
def test_memory_stays_bounded_whatever_the_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, unit: str
) -> None:
    """2.3 MB of markup: the peak is what a batch of pages and a block of the file take, a fraction of the file.

    The fixed costs are made small (blocks of 64 KiB instead of 1 MiB, five pages a batch) so that a file
    this small shows it; the real ones (~2 MB) are as independent of the file's size.
    """
    monkeypatch.setattr(markdown, "SEGMENT_CHARS", 16 * 1024)
    monkeypatch.setattr(text, "_BLOCK", 64 * 1024)
    monkeypatch.setattr(structured, "PAGES_PER_BATCH", 5)
    path = tmp_path / f"big.{fmt}"
    with path.open("w") as out:
        for n in range(5000):
            out.write(unit.format(n=n))
    size = path.stat().st_size
    assert size > 2_000_000
    options = ReadOptions(format=fmt, workdir=tmp_path)
    tracemalloc.start()
    try:
        pages = sum(len(getattr(item, "pages", ())) for item in reader_for(fmt)(path, options))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pages > 500
    assert peak < size / 4, f"peak {peak:,} bytes for a file of {size:,}"
