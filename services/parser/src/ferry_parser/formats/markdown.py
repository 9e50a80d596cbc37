"""Markdown (CommonMark with tables), read with markdown-it-py: headings, paragraphs, lists, tables, code, quotes.

markdown-it parses a whole string, so the file is parsed in segments of about
``SEGMENT_CHARS``, each ending at a blank line outside a fenced code block,
where no Markdown block but a loose list or a long indented code block
continues (a list cut there reads as two lists, which does not change its
items). A segment without such a line is cut at ``MAX_SEGMENT_CHARS`` all
the same (between words). Memory stays bounded whatever the file's size;
what is lost is a link reference defined in another segment than its use
(its text is kept as written). markdown-it leaves out what is nested deeper
than 20 levels (lists in quotes in lists...).

Inline markup is dropped (a link is its text, an image its alt text); HTML
blocks are read by ``formats.html`` and inline HTML tags are left out. A YAML
front matter block (``---`` ... ``---`` at the very start) is not text: its
``title``, ``author``, ``date``, ``description`` and ``keywords``/``tags``
(simple ``key: value`` lines) go to the summary's metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ferry_parser.formats import text
from ferry_parser.formats.base import Block, Item, ReadOptions
from ferry_parser.formats.html import fragment_blocks
from ferry_parser.formats.structured import read_blocks

SEGMENT_CHARS = 256 * 1024
MAX_SEGMENT_CHARS = 4 * 1024 * 1024
_FRONT_MATTER_LINES = 200
_METADATA_CHARS = 1000
_FRONT_MATTER_KEYS = {
    "title": "title",
    "author": "author",
    "date": "date",
    "description": "description",
    "keywords": "keywords",
    "tags": "keywords",
}
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CLOSING_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$")
_KEY_VALUE = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$")


def read_markdown(path: Path, options: ReadOptions) -> Iterator[Item]:
    encoding = text.detect_encoding(path)
    with path.open(encoding=encoding, errors="replace", newline=None) as source:
        front = front_matter(source)
    return read_blocks(
        markdown_blocks(path, encoding),
        options,
        kind="text",
        metadata={"encoding": encoding, **front},
        what="Markdown file",
    )


def markdown_blocks(path: Path, encoding: str) -> Iterator[Block]:
    parser = MarkdownIt("commonmark").enable("table")
    with path.open(encoding=encoding, errors="replace", newline=None) as source:
        front_matter(source)
        for segment in segments(source):
            yield from _Blocks().of(parser.parse(segment))


def front_matter(source: TextIO) -> dict[str, Any]:
    """The front matter's fields, leaving ``source`` after it; without one, ``{}`` and ``source`` at its start."""
    first = source.readline(_METADATA_CHARS).removeprefix("\ufeff")
    if first.rstrip() == "---":
        lines: list[str] = []
        for _ in range(_FRONT_MATTER_LINES):
            line = source.readline(_METADATA_CHARS)
            if not line:
                break
            if line.rstrip() in ("---", "..."):
                return _fields(lines)
            lines.append(line)
    source.seek(0)
    return {}


def _fields(lines: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for line in lines:
        match = _KEY_VALUE.match(line.strip())
        if match is None or match.group(1).lower() not in _FRONT_MATTER_KEYS:
            continue
        value = match.group(2).strip().strip("\"'").strip()
        if value.startswith("[") and value.endswith("]"):  # tags: [a, b]
            value = ", ".join(part.strip().strip("\"'") for part in value[1:-1].split(",") if part.strip())
        if value:
            found.setdefault(_FRONT_MATTER_KEYS[match.group(1).lower()], value[:_METADATA_CHARS])
    return found


def segments(source: TextIO) -> Iterator[str]:
    """The rest of ``source`` in pieces of whole Markdown blocks (see the module's docstring)."""
    lines: list[str] = []
    size = 0
    fence: str | None = None
    while line := source.readline(MAX_SEGMENT_CHARS):
        if fence is None:
            if opening := _FENCE.match(line):
                fence = opening.group(1)
        elif (closing := _CLOSING_FENCE.match(line)) and _closes(closing.group(1), fence):
            fence = None
        lines.append(line)
        size += len(line)
        if (size >= SEGMENT_CHARS and fence is None and not line.strip()) or size >= MAX_SEGMENT_CHARS:
            carried = _unfinished_word(lines)
            yield "".join(lines)
            lines, size, fence = [carried], len(carried), None
    if "".join(lines):
        yield "".join(lines)


def _unfinished_word(lines: list[str]) -> str:
    """The last word of a line cut short (by the segment's size), taken off it to start the next segment."""
    last = lines[-1]
    if last.endswith("\n"):
        return ""
    space = max(last.rfind(" "), last.rfind("\t"))
    if space <= 0:
        return ""
    lines[-1] = last[: space + 1]
    return last[space + 1 :]


def _closes(marker: str, fence: str) -> bool:
    """A closing fence is of the opening's character and at least as long."""
    return marker[0] == fence[0] and len(marker) >= len(fence)


class _Blocks:
    """markdown-it's block tokens of one segment as ``Block``s."""

    def __init__(self) -> None:
        self._items: list[list[str]] = []  # the open list items' text, innermost last
        self._quotes = 0
        self._heading: int | None = None
        self._rows: list[list[str | None]] | None = None

    def of(self, tokens: list[Token]) -> Iterator[Block]:
        for token in tokens:
            yield from self._token(token)
        while self._items:
            yield from self._end_item()

    def _token(self, token: Token) -> Iterator[Block]:
        kind = token.type
        if kind == "inline":
            yield from self._inline(_inline_text(token.children or []))
        elif kind == "heading_open":
            self._heading = int(token.tag[1:])
        elif kind == "heading_close":
            self._heading = None
        elif kind in ("bullet_list_open", "ordered_list_open"):
            yield from self._item_text()  # the text of an item comes before its nested list
        elif kind == "list_item_open":
            self._items.append([])
        elif kind == "list_item_close":
            yield from self._end_item()
        elif kind == "blockquote_open":
            self._quotes += 1
        elif kind == "blockquote_close":
            self._quotes = max(self._quotes - 1, 0)
        elif kind in ("fence", "code_block"):
            yield from self._item_text()
            yield Block("code", text=token.content.rstrip("\n"))
        elif kind == "html_block":
            yield from self._item_text()
            yield from fragment_blocks(token.content)
        elif kind == "table_open":
            self._rows = []
        elif kind == "tr_open" and self._rows is not None:
            self._rows.append([])
        elif kind == "table_close" and self._rows is not None:
            yield Block("table", rows=self._rows)
            self._rows = None

    def _inline(self, content: str) -> Iterator[Block]:
        if self._rows is not None:
            if self._rows:
                self._rows[-1].append(content)
        elif self._heading is not None:
            yield from self._item_text()
            yield Block("heading", text=content, level=self._heading)
        elif self._items:
            self._items[-1].append(content)
        else:
            yield Block("quote" if self._quotes else "paragraph", text=content)

    def _item_text(self) -> Iterator[Block]:
        """The innermost open list item's text so far, as a list item of its depth."""
        if self._items and self._items[-1]:
            yield Block("list_item", text="\n".join(self._items[-1]), level=len(self._items))
            self._items[-1] = []

    def _end_item(self) -> Iterator[Block]:
        yield from self._item_text()
        self._items.pop()


def _inline_text(children: list[Token]) -> str:
    """Inline tokens as plain text: markup and inline HTML tags dropped, line breaks kept."""
    parts: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.children:
            parts.append(_inline_text(child.children))
    return "".join(parts).strip()
