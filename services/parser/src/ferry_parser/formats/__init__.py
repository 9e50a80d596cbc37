"""Format readers by format name: adding a format is adding a module and a line in ``READERS``."""

from __future__ import annotations

from ferry_parser.errors import UnsupportedFormat
from ferry_parser.formats.base import (
    Block,
    DocumentHeader,
    Header,
    Item,
    Page,
    Pages,
    Reader,
    ReadOptions,
    TableHeader,
)
from ferry_parser.formats.delimited import read_delimited
from ferry_parser.formats.docx import read_docx
from ferry_parser.formats.excel import read_excel
from ferry_parser.formats.html import read_html
from ferry_parser.formats.jsonfmt import read_json, read_jsonl
from ferry_parser.formats.markdown import read_markdown
from ferry_parser.formats.pdf import read_pdf

READERS: dict[str, Reader] = {
    "csv": read_delimited,
    "tsv": read_delimited,
    "txt": read_delimited,
    "json": read_json,
    "jsonl": read_jsonl,
    "xlsx": read_excel,
    "xlsm": read_excel,
    "xlsb": read_excel,
    "xls": read_excel,
    "ods": read_excel,
    "pdf": read_pdf,
    "docx": read_docx,
    "md": read_markdown,
    "html": read_html,
}
ALIASES = {
    "ndjson": "jsonl",
    "jsonlines": "jsonl",
    "tab": "tsv",
    "text": "txt",
    "markdown": "md",
    "htm": "html",
    "xhtml": "html",
}


def canonical_format(fmt: str) -> str:
    """``".CSV"`` → ``"csv"``, ``"ndjson"`` → ``"jsonl"``."""
    name = fmt.strip().lstrip(".").lower()
    return ALIASES.get(name, name)


def reader_for(fmt: str) -> Reader:
    """The reader of ``fmt``; ``UnsupportedFormat`` when there is none yet."""
    reader = READERS.get(canonical_format(fmt))
    if reader is None:
        supported = ", ".join(sorted(READERS))
        raise UnsupportedFormat(f"Files of format {fmt!r} cannot be parsed yet. Supported formats: {supported}.")
    return reader


__all__ = [
    "READERS",
    "Block",
    "DocumentHeader",
    "Header",
    "Item",
    "Page",
    "Pages",
    "ReadOptions",
    "Reader",
    "TableHeader",
    "canonical_format",
    "reader_for",
]
