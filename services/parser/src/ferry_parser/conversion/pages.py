"""Parsed pages → txt, md (here) or pdf (``pdf_render.py``), page by page as they come.

How pages are joined depends on what they are. A PDF's pages (summary kind
``pages``) are real pages: txt separates them with a form feed (as ``pdftotext``
does), md gives each a ``## Page N`` section. A text file's or a document's pages
(kinds ``text`` and ``document``) are the parser's cut of one flowing text — a
paragraph, or a run of blocks — so they are joined as paragraphs, and a page's
``blocks`` (Word, Markdown, HTML) are rendered as the Markdown they name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ferry_parser.conversion.markdown import escape_inline, render_blocks, text_paragraphs
from ferry_parser.conversion.pdf_render import write_pdf

PAGED = "pages"
"""The summary kind whose pages are real pages (PDF)."""
FORM_FEED = "\f"


def write_pages(pages: Iterator[dict[str, Any]], target: str, out: Path, *, title: str, kind: str = PAGED) -> None:
    """Parsed pages (``{number, text, blocks?}``) → txt, md or pdf at ``out``; ``title`` heads md and pdf.

    ``kind`` is the parsed summary's kind: ``pages`` (PDF) keeps page boundaries,
    ``text`` and ``document`` flow from page to page.
    """
    paged = kind == PAGED
    if target == "txt":
        write_txt(pages, out, paged=paged)
    elif target == "md":
        write_md(pages, out, title=title, paged=paged)
    elif target == "pdf":
        write_pdf(pages, out, title=title, paged=paged)
    else:
        raise ValueError(f"not a page target: {target!r}")


def write_txt(pages: Iterator[dict[str, Any]], out: Path, *, paged: bool) -> None:
    """UTF-8 text: pages separated by a form feed (paged) or a blank line (flowing)."""
    separator = FORM_FEED if paged else "\n"
    with out.open("w", encoding="utf-8", newline="\n") as file:
        first = True
        for page in pages:
            text = str(page.get("text") or "")
            if not paged and not text.strip():
                continue
            if not first:
                file.write(separator)
            file.write(text if text.endswith("\n") or not text else text + "\n")
            first = False


def write_md(pages: Iterator[dict[str, Any]], out: Path, *, title: str, paged: bool) -> None:
    with out.open("w", encoding="utf-8", newline="\n") as file:
        file.write(f"# {escape_inline(' '.join(title.split()))}\n" if title.strip() else "")
        for page in pages:
            body = "".join(markdown_body(page))
            if paged:
                file.write(f"\n## Page {page.get('number', '')}\n")
            if body:
                file.write(f"\n{body}\n")


def markdown_body(page: dict[str, Any]) -> Iterator[str]:
    """A page's content as Markdown: its blocks where it has them, else its text as paragraphs."""
    blocks = page.get("blocks")
    if blocks:
        yield from render_blocks(blocks)
        return
    first = True
    for paragraph in text_paragraphs(str(page.get("text") or "")):
        if not first:
            yield "\n\n"
        yield paragraph
        first = False
