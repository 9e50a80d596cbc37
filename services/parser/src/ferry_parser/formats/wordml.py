"""The body of a Word document (WordprocessingML) as blocks: what ``formats.docx`` reads once the file is open.

The XML is walked directly (python-docx's proxies cost a hundred times more on
a long document): paragraphs and tables in order, including those in content
controls, with tracked insertions (deletions left out) and the text of text
boxes after the paragraph holding them. A paragraph is a heading when its
style (or a style it is based on) is ``Heading N`` or ``Title``, or it has an
outline level; a list item when it is numbered or of a ``List`` style (its level
is the numbering level, 1 = top); a quote or code by its style's name. Word's
explicit page breaks (a page break, a paragraph set to start a page, a section
starting on a new page) are ``PAGE_BREAK``s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from docx.oxml.ns import qn

from ferry_parser.formats.base import Block, BlockType
from ferry_parser.formats.structured import PAGE_BREAK, Content

# lxml carries no type hints: its elements are Any to mypy.
_Element = Any

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$")
_LIST_STYLE = re.compile(r"^list(?: (?:bullet|number|paragraph|continue))?(?: ([2-9]))?$")

_P, _TBL, _TR, _TC = qn("w:p"), qn("w:tbl"), qn("w:tr"), qn("w:tc")
_T, _TAB, _BR, _CR, _HYPHEN = qn("w:t"), qn("w:tab"), qn("w:br"), qn("w:cr"), qn("w:noBreakHyphen")
_SDT, _SDT_CONTENT, _CUSTOM_XML = qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")
_TXBX = qn("w:txbxContent")
_VAL, _TYPE = qn("w:val"), qn("w:type")
_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
# Never text of the paragraph: its properties, deleted or moved-away runs, and the fallback copy of a drawing.
_NOT_TEXT = frozenset({qn("w:pPr"), qn("w:rPr"), qn("w:del"), qn("w:moveFrom"), _FALLBACK})


# -- styles: which paragraph styles are headings, lists, quotes or code ----------------------------------------


@dataclass(frozen=True)
class _Role:
    type: BlockType
    level: int | None = None


class Styles:
    """Each paragraph style's role, following ``basedOn`` (the first style in the chain that says wins)."""

    def __init__(self, styles: _Element) -> None:
        self._own: dict[str, _Role | None] = {}
        self._base: dict[str, str] = {}
        for style in styles.iterchildren(qn("w:style")):
            if style.get(_TYPE) not in (None, "paragraph"):
                continue
            style_id = style.get(qn("w:styleId")) or ""
            self._own[style_id] = _style_role(style)
            based = style.find(qn("w:basedOn"))
            if based is not None:
                self._base[style_id] = based.get(_VAL) or ""
        self._resolved: dict[str, _Role | None] = {}

    def role(self, style_id: str | None) -> _Role | None:
        if not style_id:
            return None
        if style_id not in self._resolved:
            role, seen, current = None, set(), style_id
            while current and current not in seen and role is None:  # a cycle of basedOn ends the walk
                seen.add(current)
                role = self._own.get(current)
                current = self._base.get(current, "")
            self._resolved[style_id] = role
        return self._resolved[style_id]


def _style_role(style: _Element) -> _Role | None:
    name_element = style.find(qn("w:name"))
    name = (name_element.get(_VAL) or "") if name_element is not None else ""
    name = name.strip().lower()
    if match := _HEADING_STYLE.match(name):
        return _Role("heading", int(match.group(1)))
    if name == "title":
        return _Role("heading", 1)
    if name in ("quote", "intense quote"):
        return _Role("quote")
    if "code" in name or name in ("html preformatted", "plain text", "macro text"):
        return _Role("code")
    if match := _LIST_STYLE.match(name):  # "List Bullet 2": the level is in the name, not in its numbering
        return _Role("list_item", int(match.group(1) or 1))
    properties = style.find(qn("w:pPr"))
    outline = _outline_level(properties)
    if outline is not None:
        return _Role("heading", outline)
    numbering = _numbering_level(properties)
    return _Role("list_item", numbering) if numbering is not None else None


def _outline_level(properties: _Element | None) -> int | None:
    """Word's outline level 0-8 as a heading level 1-9 (9, "body text", is no heading)."""
    found = properties.find(qn("w:outlineLvl")) if properties is not None else None
    value = _int(found.get(_VAL)) if found is not None else None
    return value + 1 if value is not None and 0 <= value <= 8 else None


def _numbering_level(properties: _Element | None) -> int | None:
    numbering = properties.find(qn("w:numPr")) if properties is not None else None
    if numbering is None:
        return None
    number_id = numbering.find(qn("w:numId"))
    if number_id is not None and number_id.get(_VAL) == "0":  # numId 0 removes the style's numbering
        return None
    level = numbering.find(qn("w:ilvl"))
    value = _int(level.get(_VAL)) if level is not None else 0
    return min(max(value or 0, 0), 8) + 1


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# -- the body ------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """The text of one paragraph as it is walked, cut where it holds a page break."""

    pieces: list[list[str]] = field(default_factory=lambda: [[]])
    boxes: list[_Element] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.pieces[-1].append(text)

    def page_break(self) -> None:
        self.pieces.append([])

    def texts(self) -> list[str]:
        return ["".join(piece).strip() for piece in self.pieces]


class BodyReader:
    def __init__(self, styles: Styles) -> None:
        self._styles = styles

    def content(self, container: _Element) -> Iterator[Content]:
        """The blocks of the body (or of a content control, or a text box), in order."""
        for child in container.iterchildren():
            if child.tag == _P:
                yield from self._paragraph(child)
            elif child.tag == _TBL:
                yield _table(child)
            elif child.tag == _SDT:
                for inner in child.iterchildren(_SDT_CONTENT):
                    yield from self.content(inner)
            elif child.tag == _CUSTOM_XML:
                yield from self.content(child)

    def _paragraph(self, paragraph: _Element) -> Iterator[Content]:
        properties = paragraph.find(qn("w:pPr"))
        if properties is not None and _is_on(properties.find(qn("w:pageBreakBefore"))):
            yield PAGE_BREAK
        role = self._role(properties)
        run = _Run()
        _walk(paragraph, run)
        for index, text in enumerate(run.texts()):
            if index:
                yield PAGE_BREAK
            yield Block(role.type, text=text, level=role.level)
        for box in run.boxes:
            yield from self.content(box)
        if properties is not None and _starts_new_page(properties.find(qn("w:sectPr"))):
            yield PAGE_BREAK

    def _role(self, properties: _Element | None) -> _Role:
        style = properties.find(qn("w:pStyle")) if properties is not None else None
        role = self._styles.role(style.get(_VAL) if style is not None else None)
        if role is not None and role.type == "heading":
            return role
        outline = _outline_level(properties)
        if outline is not None:
            return _Role("heading", outline)
        numbering = _numbering_level(properties)
        if numbering is not None:
            return _Role("list_item", numbering)
        return role or _Role("paragraph")


def _walk(element: _Element, run: _Run) -> None:
    """The paragraph's text, in document order (runs in hyperlinks, fields, insertions, content controls)."""
    for child in element.iterchildren():
        tag = child.tag
        if not isinstance(tag, str):  # comments, processing instructions, unresolved entities
            continue
        if tag == _T:
            run.add(_element_text(child))
        elif tag == _TAB:
            run.add("\t")
        elif tag == _BR:
            if child.get(_TYPE) == "page":
                run.page_break()
            else:
                run.add("\n")
        elif tag == _CR:
            run.add("\n")
        elif tag == _HYPHEN:
            run.add("-")
        elif tag == _TXBX:
            run.boxes.append(child)
        elif tag not in _NOT_TEXT:
            _walk(child, run)


def _element_text(element: _Element) -> str:
    """An element's text; an entity reference inside (never resolved) is left out, the text after it kept."""
    return (element.text or "") + "".join(node.tail or "" for node in element)


def _table(table: _Element) -> Block:
    """Rows of cell texts on the table's grid: a merged cell's continuation (across or down) is ``None``."""
    rows: list[list[str | None]] = []
    for row in table.iterchildren(_TR):
        cells: list[str | None] = []
        for cell in row.iterchildren(_TC):
            span = _int(_cell_property(cell, "w:gridSpan")) or 1
            merged = cell.find(f"{qn('w:tcPr')}/{qn('w:vMerge')}")
            continued = merged is not None and merged.get(_VAL) in (None, "continue")
            cells.append(None if continued else _cell_text(cell))
            cells.extend([None] * (min(span, 64) - 1))
        rows.append(cells)
    return Block("table", rows=rows)


def _cell_property(cell: _Element, name: str) -> str | None:
    found = cell.find(f"{qn('w:tcPr')}/{qn(name)}")
    return found.get(_VAL) if found is not None else None


def _cell_text(cell: _Element) -> str:
    """Every paragraph in the cell (nested tables and text boxes included), one per line."""
    lines = []
    for paragraph in cell.iter(_P):
        if any(True for _ in paragraph.iterancestors(_FALLBACK)):
            continue  # the second copy of a text box
        run = _Run()
        _walk(paragraph, run)
        lines.append(" ".join(text for text in run.texts() if text))
    return "\n".join(lines).strip()


def _is_on(toggle: _Element | None) -> bool:
    """A Word on/off property: present and not ``false``/``0``/``off``."""
    return toggle is not None and toggle.get(_VAL) not in ("false", "0", "off")


def _starts_new_page(section: _Element | None) -> bool:
    """A section break (in the paragraph ending the section) that starts the next section on a new page."""
    if section is None:
        return False
    kind = section.find(_TYPE)
    return kind is None or kind.get(_VAL) in (None, "nextPage", "evenPage", "oddPage")
