"""Parsed pages and blocks as Markdown (CommonMark with GitHub's pipe tables).

Text is escaped so that it renders as itself: a PDF line starting with ``1.`` or
``#`` stays a line of text, not a list or a heading, and ``*`` or ``_`` stay
characters. Blocks (``{"type": heading | paragraph | list_item | table | code |
quote, "level"?, "text"?, "rows"?}``, from Word, Markdown and HTML documents)
become the Markdown constructs they name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_INLINE = re.compile(r"([\\`*_\[\]<>])")
# What would start a block construct at a line's start: headings, quotes, lists, fences, rules, tables, HTML.
_BLOCK_START = re.compile(r"^(#|>|[-+*](?=\s|$)|=+\s*$|-+\s*$|\d{1,9}(?=[.)])|~~~|\|)")
_PARAGRAPHS = re.compile(r"\n\s*\n")


def escape_inline(text: str) -> str:
    """One line of text with every character that could mark it up escaped."""
    text = _INLINE.sub(r"\\\1", text)
    match = _BLOCK_START.match(text)
    if match:
        marker = match.group(1)
        if marker[0].isdigit():  # an ordered list's number: escape the dot or parenthesis after it
            return marker + "\\" + text[len(marker) :]
        return "\\" + text
    return text


def text_paragraphs(text: str) -> Iterator[str]:
    """Plain text as Markdown paragraphs: its lines kept (without leading blanks, which would make code)."""
    for paragraph in _PARAGRAPHS.split(text):
        lines = [escape_inline(line.strip()) for line in paragraph.splitlines() if line.strip()]
        if lines:
            yield "\n".join(lines)


def render_blocks(blocks: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Each block as Markdown, separated as Markdown needs (list items of one list are not)."""
    previous = None
    for block in blocks:
        kind = block.get("type")
        rendered = _render(block)
        if rendered is None:
            continue
        if previous is not None:
            yield "\n" if kind == previous == "list_item" else "\n\n"
        yield rendered
        previous = kind


def _render(block: dict[str, Any]) -> str | None:
    kind = block.get("type")
    text = str(block.get("text") or "")
    if kind == "heading":
        level = min(max(int(block.get("level") or 1), 1), 6)
        return "#" * level + " " + _one_line(text) if text.strip() else None
    if kind == "list_item":
        depth = max(int(block.get("level") or 1) - 1, 0)
        marker = "1." if block.get("ordered") else "-"
        indent = " " * ((len(marker) + 1) * depth)
        return indent + marker + " " + _one_line(text)
    if kind == "table":
        return pipe_table(block.get("rows") or []) or None
    if kind == "code":
        return _fenced(text, str(block.get("language") or ""))
    if kind == "quote":
        lines = [escape_inline(line.strip()) for line in text.splitlines()] or [""]
        return "\n".join(f"> {line}" if line else ">" for line in lines)
    return "\n\n".join(text_paragraphs(text)) or None  # a paragraph, or a block of a kind not known here


def pipe_table(rows: list[list[Any]]) -> str:
    """A pipe table whose first row is the header; rows of other lengths are padded."""
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    if width == 0:
        return ""
    cells = [[_cell(value) for value in row] + [""] * (width - len(row)) for row in rows]
    header, body = cells[0], cells[1:]
    lines = ["| " + " | ".join(c or " " for c in header) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = " ".join(str(value).split())  # a cell is one line; no block can start in it
    return _INLINE.sub(r"\\\1", text).replace("|", "\\|")


def _one_line(text: str) -> str:
    return escape_inline(" ".join(text.split()))


def _fenced(code: str, language: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    info = language.split()[0] if language.strip() else ""
    return f"{fence}{info}\n{code.rstrip(chr(10))}\n{fence}"
