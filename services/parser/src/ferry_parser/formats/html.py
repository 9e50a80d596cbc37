"""HTML, read with the standard library's ``html.parser``: the text of a page as headings, paragraphs, lists,
tables, code and quotes.

Nothing is fetched (no stylesheet, image or frame) and nothing runs: scripts,
styles, templates, frames, forms' fields, SVG and MathML are left out, and so is
everything in ``<head>`` but the title and the ``author``/``description``/
``keywords`` meta tags (the summary's metadata). HTML defines no entities of
its own, so there is nothing to expand but the standard character references.

The file is fed to the parser a block at a time, so memory stays bounded
whatever its size: a block's text is emitted once it holds ``FLUSH_CHARS``
(the rest follows as the next block), a table's rows likewise. The parser
itself holds back what it cannot finish yet (an unclosed comment, tag or
script); more than ``MAX_PENDING_CHARS`` of that is a damaged file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from ferry_parser.errors import CorruptFile
from ferry_parser.formats import text
from ferry_parser.formats.base import Block, BlockType, Item, ReadOptions
from ferry_parser.formats.structured import read_blocks

FLUSH_CHARS = 1 << 20
MAX_PENDING_CHARS = 64 << 20
MAX_DEPTH = 256
"""Block elements nested deeper than this are read as if they were not there."""
_FEED_CHARS = 1 << 16
_METADATA_CHARS = 1000

_SKIPPED = frozenset(
    {"script", "style", "template", "noscript", "svg", "math", "iframe", "object", "canvas", "select", "textarea"}
)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_LISTS = frozenset({"ul", "ol", "menu"})
_CELLS = frozenset({"td", "th"})
_BLOCKS = frozenset(
    {*_HEADINGS, *_LISTS, *_CELLS}
    | set(
        [
            "address",
            "article",
            "aside",
            "blockquote",
            "body",
            "caption",
            "center",
            "dd",
            "details",
            "dialog",
            "div",
            "dl",
            "dt",
            "fieldset",
            "figcaption",
            "figure",
            "footer",
            "form",
            "header",
            "hgroup",
            "hr",
            "html",
            "li",
            "main",
            "nav",
            "p",
            "pre",
            "section",
            "summary",
            "table",
            "tbody",
            "tfoot",
            "thead",
            "tr",
        ]
    )
)
_META = frozenset({"author", "description", "keywords"})
_SPACE = re.compile(r"\s+")


def read_html(path: Path, options: ReadOptions) -> Iterator[Item]:
    encoding = text.detect_encoding(path)
    found: dict[str, Any] = {"encoding": encoding}
    return read_blocks(html_blocks(path, encoding, found), options, kind="text", metadata=found, what="HTML page")


def html_blocks(path: Path, encoding: str, metadata: dict[str, Any] | None = None) -> Iterator[Block]:
    """The blocks of the HTML file at ``path``; its title and meta tags are added to ``metadata``."""
    extractor = HtmlBlocks()
    with path.open(encoding=encoding, errors="replace", newline=None) as source:
        while piece := source.read(max(_FEED_CHARS, extractor.pending)):  # a long wait for a tag's end: read more
            extractor.feed(piece.removeprefix("\ufeff"))
            if extractor.pending > MAX_PENDING_CHARS:
                raise CorruptFile(
                    "The HTML is damaged: a comment, tag or script runs on for more than "
                    f"{MAX_PENDING_CHARS >> 20} MB without an end."
                )
            yield from extractor.take()
    extractor.close()
    yield from extractor.take()
    if metadata is not None:
        metadata.update(extractor.metadata)


def fragment_blocks(markup: str) -> list[Block]:
    """The blocks of a piece of HTML (an HTML block inside Markdown)."""
    extractor = HtmlBlocks()
    extractor.feed(markup)
    extractor.close()
    return list(extractor.take())


class HtmlBlocks(HTMLParser):
    """Turns fed HTML into blocks; ``take`` returns those finished so far."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.metadata: dict[str, Any] = {}
        self._done: list[Block] = []
        self._open: list[str] = []  # block elements open outside tables, innermost last
        self._skipping: list[str] = []
        self._text: list[str] = []
        self._chars = 0
        self._title: list[str] | None = None
        self._table = _Table()

    @property
    def pending(self) -> int:
        """Characters fed but not parsed yet (``rawdata`` holds what the parser waits to complete)."""
        return len(self.rawdata)

    def take(self) -> Iterator[Block]:
        done, self._done = self._done, []
        yield from done

    def close(self) -> None:
        if self.rawdata.startswith("<"):
            self.rawdata = ""  # a comment or tag the file never finishes: a browser shows none of it
        super().close()
        self._flush()
        self._end_table()

    # -- the parser's callbacks ----------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skipping or tag in _SKIPPED:
            if tag in _SKIPPED:
                self._skipping.append(tag)
            return
        if self._title is not None and tag in _BLOCKS:
            self._end_title()  # a title never closed: the page goes on
        if tag == "title":
            self._title = []
        elif tag == "meta":
            self._meta(dict(attrs))
        elif tag == "html":
            language = dict(attrs).get("lang")
            if language:
                self.metadata["language"] = language[:_METADATA_CHARS]
        elif tag == "br":
            self._add("\n")
        elif tag in _BLOCKS:
            self._start_block(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIPPED and tag != "title":  # <svg/> and <title/> hold nothing
            self.handle_starttag(tag, attrs)  # <br/>, <hr/>; <div/> opens a div as browsers do

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            if tag == self._skipping[-1]:
                self._skipping.pop()
            return
        if tag == "title":
            self._end_title()
        elif tag in _BLOCKS:
            self._end_block(tag)

    def handle_data(self, data: str) -> None:
        if self._skipping:
            return
        if self._title is not None:
            if sum(map(len, self._title)) < _METADATA_CHARS:
                self._title.append(data)
            return
        self._add(data if "pre" in self._open else _SPACE.sub(" ", data))

    def _end_title(self) -> None:
        if self._title is None:
            return
        title = _SPACE.sub(" ", "".join(self._title)).strip()
        if title and "title" not in self.metadata:
            self.metadata["title"] = title[:_METADATA_CHARS]
        self._title = None

    # -- blocks --------------------------------------------------------------------------------------------

    def _start_block(self, tag: str) -> None:
        if self._table.depth:
            self._table.start(tag)
            return
        self._flush()
        if tag == "table":
            self._table.depth = 1
            return
        self._close_implied(tag)
        if tag != "hr" and len(self._open) < MAX_DEPTH:  # hr is void: it ends a block and holds none
            self._open.append(tag)

    def _end_block(self, tag: str) -> None:
        if self._table.depth:
            if self._table.end(tag):
                self._end_table()
            return
        self._flush()
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def _close_implied(self, tag: str) -> None:
        """End the elements a new ``tag`` ends where their end tag is optional (``<li>a<li>b``, ``<p>a<p>b``)."""
        if self._open and self._open[-1] in ("p", *_HEADINGS):
            self._open.pop()
        if tag in ("li", "dt", "dd"):
            stops = _LISTS if tag == "li" else {"dl"}
            siblings = {"li"} if tag == "li" else {"dt", "dd"}
            for index in range(len(self._open) - 1, -1, -1):
                if self._open[index] in stops:
                    break
                if self._open[index] in siblings:
                    del self._open[index:]
                    break

    def _add(self, data: str) -> None:
        if self._table.depth:
            self._table.add(data)
            if self._table.chars > FLUSH_CHARS and self._table.rows_done:
                self._end_table(reopen=True)
            return
        self._text.append(data)
        self._chars += len(data)
        if self._chars > FLUSH_CHARS:
            self._flush()

    def _flush(self) -> None:
        """The text gathered so far as a block of the innermost element that gives it a type."""
        if not self._text:
            return
        raw = "".join(self._text)
        self._text, self._chars = [], 0
        kind, level = self._context()
        if kind == "code":
            content = raw.strip("\n").rstrip()
        else:
            content = "\n".join(line.strip() for line in raw.split("\n")).strip()
            content = re.sub(r"\n{2,}", "\n", content)
        if content:
            self._done.append(Block(kind, text=content, level=level))

    def _context(self) -> tuple[BlockType, int | None]:
        for tag in reversed(self._open):
            if tag in _HEADINGS:
                return "heading", _HEADINGS[tag]
            if tag == "li":
                return "list_item", max(sum(1 for t in self._open if t in _LISTS), 1)
            if tag == "pre":
                return "code", None
            if tag == "blockquote":
                return "quote", None
        return "paragraph", None

    def _end_table(self, *, reopen: bool = False) -> None:
        rows = self._table.finish(reopen=reopen)
        if rows:
            self._done.append(Block("table", rows=rows))

    def _meta(self, attrs: dict[str, str | None]) -> None:
        name = (attrs.get("name") or "").lower()
        content = attrs.get("content")
        if name in _META and content and content.strip():
            self.metadata[name] = _SPACE.sub(" ", content).strip()[:_METADATA_CHARS]


class _Table:
    """The rows of the outermost open table; a table inside one of its cells is read as the cell's text."""

    def __init__(self) -> None:
        self.depth = 0
        self.chars = 0
        self._rows: list[list[str | None]] = []
        self._row: list[str | None] | None = None
        self._row_chars = 0
        self._cell: list[str] | None = None

    @property
    def rows_done(self) -> int:
        return len(self._rows)

    def start(self, tag: str) -> None:
        if tag == "table":
            self.depth += 1
        if self.depth == 1 and tag == "tr":
            self._end_row()
            self._row = []
        elif self.depth == 1 and tag in _CELLS:
            self._end_cell()
            self._cell = []
        else:
            self.add("\n")

    def end(self, tag: str) -> bool:
        """Whether ``tag`` ends the outermost table."""
        if tag == "table":
            self.depth -= 1
            if not self.depth:
                return True
        if self.depth == 1 and tag in _CELLS:
            self._end_cell()
        elif self.depth == 1 and tag == "tr":
            self._end_row()
        else:
            self.add("\n")
        return False

    def add(self, data: str) -> None:
        if self._cell is None:
            if not data.strip():
                return
            self._cell = []  # text straight inside a row or table: a cell of its own
        if self._row_chars + len(data) > FLUSH_CHARS:
            return  # one row holds at most a block's worth: the page would shorten it anyway
        self._cell.append(data)
        self._row_chars += len(data)
        self.chars += len(data)

    def finish(self, *, reopen: bool) -> list[list[str | None]]:
        """The rows so far; when ``reopen`` (a long table handed on in parts) the open row stays open."""
        if not reopen:
            self._end_row()
            self.depth = 0
        rows, self._rows, self.chars = self._rows, [], self._row_chars
        return rows

    def _end_cell(self) -> None:
        if self._cell is None:
            return
        if self._row is None:
            self._row = []
        lines = (_SPACE.sub(" ", line).strip() for line in "".join(self._cell).split("\n"))
        self._row.append("\n".join(line for line in lines if line))
        self._cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._row:
            self._rows.append(self._row)
        self._row = None
        self._row_chars = 0
