"""Parsed pages → a PDF laid out by MuPDF (``pymupdf.Story``) from HTML built here, escaped.

Pages are laid out in groups of about ``GROUP_CHARS`` characters of HTML: each
group is one Story, placed where the previous one ended, so Python holds one
group at a time. MuPDF's PDF writer keeps the document it writes until it is
closed, so that memory grows with the output (about the size of the PDF file;
the parser's page limit bounds it), not with the HTML.

PyMuPDF is imported on first use, as ``formats.pdf`` does: importing it costs
seconds and memory that a table conversion in the same process does not need.
Its methods carry no annotations, so its objects are ``Any`` here.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ferry_parser.errors import ParseError

GROUP_CHARS = 200_000
A4 = (0.0, 0.0, 595.0, 842.0)
"""The page, in points."""
MARGIN = 54.0  # three quarters of an inch
_CONTENT = (A4[0] + MARGIN, A4[1] + MARGIN, A4[2] - MARGIN, A4[3] - MARGIN)
_MIN_FREE = 24.0
"""Less height than this left on a page (not even a line) and the next Story starts on a new page."""
_CSS = """
body { font-family: sans-serif; font-size: 11pt; line-height: 1.3; }
h1 { font-size: 20pt; } h2 { font-size: 16pt; } h3 { font-size: 13pt; }
h4, h5, h6 { font-size: 11pt; }
pre { font-family: monospace; font-size: 9pt; }
blockquote { margin-left: 18pt; font-style: italic; }
table { border-collapse: collapse; }
td, th { border: 0.5pt solid #888; padding: 2pt 4pt; }
"""
# Characters XML does not allow; MuPDF's HTML parser would stop at them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


# MuPDF shapes "fi", "fl", "ff"... into ligature glyphs that PDF readers extract as U+FB01 and
# the like, so "files" would not be found by searching for it. An empty element between the
# letters splits the run that is shaped, and shows nothing.
_LIGATURE = re.compile(r"f(?=[fijlt])")


class LayoutFailed(ParseError):
    code = "conversion_failed"


def write_pdf(pages: Iterator[dict[str, Any]], out: Path, *, title: str, paged: bool) -> None:
    layout = _Layout(out)
    try:
        group = [f"<h1>{_text(title)}</h1>"] if title.strip() else []
        size = sum(map(len, group))
        for page in pages:
            fragment = page_html(page, paged=paged)
            group.append(fragment)
            size += len(fragment)
            if size >= GROUP_CHARS:
                layout.place("".join(group))
                group, size = [], 0
        if group or layout.pages == 0:
            layout.place("".join(group))
    finally:
        layout.close()
    _set_title(out, title)


def page_html(page: dict[str, Any], *, paged: bool) -> str:
    head = f"<h2>Page {_text(str(page.get('number', '')))}</h2>" if paged else ""
    blocks = page.get("blocks")
    if blocks:
        return head + "".join(blocks_html(blocks))
    return head + "".join(_paragraph(p) for p in re.split(r"\n\s*\n", str(page.get("text") or "")) if p.strip())


def blocks_html(blocks: Iterable[dict[str, Any]]) -> Iterator[str]:
    open_list: str | None = None
    for block in blocks:
        kind = block.get("type")
        if kind == "list_item":
            tag = "ol" if block.get("ordered") else "ul"
            if open_list != tag:
                if open_list:
                    yield f"</{open_list}>"
                yield f"<{tag}>"
                open_list = tag
            depth = max(int(block.get("level") or 1) - 1, 0)
            style = f' style="margin-left: {18 * depth}pt"' if depth else ""
            yield f"<li{style}>{_text(block.get('text'))}</li>"
            continue
        if open_list:
            yield f"</{open_list}>"
            open_list = None
        yield _block(block)
    if open_list:
        yield f"</{open_list}>"


def _block(block: dict[str, Any]) -> str:
    kind, text = block.get("type"), block.get("text")
    if kind == "heading":
        level = min(max(int(block.get("level") or 1), 1), 6)
        return f"<h{level}>{_text(text)}</h{level}>"
    if kind == "table":
        return _table(block.get("rows") or [])
    if kind == "code":
        return f"<pre>{_text(text)}</pre>"
    if kind == "quote":
        return f"<blockquote>{_lines(text)}</blockquote>"
    return _paragraph(str(text or ""))


def _table(rows: list[list[Any]]) -> str:
    if not rows:
        return ""
    parts = ["<table>"]
    for index, row in enumerate(rows):
        tag = "th" if index == 0 else "td"
        parts.append("<tr>" + "".join(f"<{tag}>{_text(cell)}</{tag}>" for cell in row) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def _paragraph(text: str) -> str:
    return f"<p>{_lines(text)}</p>" if text.strip() else ""


def _lines(text: Any) -> str:
    """Text with its line breaks kept."""
    return "<br/>".join(_text(line) for line in str(text or "").strip("\n").splitlines())


def _text(value: Any) -> str:
    escaped = html.escape(_NOT_XML.sub("", "" if value is None else str(value)))
    return _LIGATURE.sub("f<b></b>", escaped)


class _Layout:
    """Places Stories one after another on A4 pages; a Story starts where the previous one ended."""

    def __init__(self, out: Path) -> None:
        import pymupdf  # here, not at the top: see the module's docstring

        self._pymupdf: Any = pymupdf
        self._writer: Any = self._pymupdf.DocumentWriter(str(out))
        self._device: Any = None
        self._free: Any = self._pymupdf.Rect(*_CONTENT)
        self.pages = 0

    def place(self, fragment: str) -> None:
        story = self._pymupdf.Story(html=fragment, user_css=_CSS)
        more = True
        while more:
            fresh = self._device is None
            if fresh:
                self._device = self._writer.begin_page(self._pymupdf.Rect(*A4))
                self._free = self._pymupdf.Rect(*_CONTENT)
                self.pages += 1
            more, filled = story.place(self._free)
            story.draw(self._device)
            bottom = self._pymupdf.Rect(filled).y1
            if more:
                if fresh and bottom <= _CONTENT[1]:
                    raise LayoutFailed("A part of the document is too large to lay out on a page.")
                self._end_page()
            else:
                self._free = self._pymupdf.Rect(_CONTENT[0], bottom, _CONTENT[2], _CONTENT[3])
                if _CONTENT[3] - bottom < _MIN_FREE:
                    self._end_page()

    def _end_page(self) -> None:
        self._writer.end_page()
        self._device = None

    def close(self) -> None:
        if self._device is not None:
            self._end_page()
        self._writer.close()


def _set_title(out: Path, title: str) -> None:
    import pymupdf

    document: Any
    with pymupdf.open(out) as document:  # type: ignore[no-untyped-call]
        document.set_metadata({"title": title, "producer": "Ferry", "creator": "Ferry"})
        document.saveIncr()
