"""Decide a file's format from its first bytes, never from its name or Content-Type alone.

Magic numbers identify binary formats; text is recognised by decoding, then
classified by structure (HTML, JSON, JSON Lines, delimited rows, plain text). The
extension only breaks ties between formats the bytes cannot tell apart
(an .xlsm without macros looks like an .xlsx inside; Markdown, or an HTML
fragment, is plain text to the bytes).
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass

SNIFF_BYTES = 64 * 1024

# Formats the parser handles; others are recognised but refused with 415.
PARSEABLE = frozenset(
    {"csv", "tsv", "txt", "json", "jsonl", "xlsx", "xlsm", "xlsb", "xls", "ods", "pdf", "docx", "md", "html"}
)

CONTENT_TYPES = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    "xlsb": "application/vnd.ms-excel.sheet.binary.macroEnabled.12",
    "xls": "application/vnd.ms-excel",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "zip": "application/zip",
    "binary": "application/octet-stream",
}


@dataclass(frozen=True)
class Detected:
    format: str
    content_type: str

    @property
    def parseable(self) -> bool:
        return self.format in PARSEABLE


def detect(head: bytes, filename: str = "") -> Detected:
    """Classify a file by its first ``SNIFF_BYTES`` bytes."""
    name = filename.lower()
    fmt = _binary_format(head, name) or _text_format(head, name)
    return Detected(fmt, CONTENT_TYPES[fmt])


def _binary_format(head: bytes, name: str) -> str | None:
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"  # OLE2 compound document: legacy Excel
    if head.startswith(b"PK\x03\x04"):
        if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head[:200]:
            return "ods"
        if b"xl/" in head:  # an OOXML workbook's parts live under xl/
            if b"xl/workbook.bin" in head:
                return "xlsb"
            if b"xl/vbaProject.bin" in head or name.endswith(".xlsm"):
                return "xlsm"
            return "xlsx"
        if b"word/" in head:
            return "docx"
        if b"ppt/" in head:
            return "pptx"
        return "zip"
    return None


MARKDOWN_EXTENSIONS = (".md", ".markdown")
HTML_EXTENSIONS = (".html", ".htm", ".xhtml")
_HTML_WINDOW = 1024
"""An HTML document says so (``<!doctype html>`` or ``<html``) within its first KiB (after comments, an XML
declaration)."""


def _text_format(head: bytes, name: str) -> str:
    text = _decode(head)
    if text is None:
        return "binary"
    stripped = text.lstrip("\ufeff \t\r\n")
    if _is_html(stripped) or name.endswith(HTML_EXTENSIONS):
        return "html"
    if name.endswith(MARKDOWN_EXTENSIONS):
        return "md"
    if not stripped:
        return "txt"
    if stripped[0] in "[{":
        if _is_json_lines(stripped):
            return "jsonl"
        if _looks_like_json(stripped):
            return "json"
    return _delimited_format(stripped)


def _is_html(text: str) -> bool:
    start = text[:_HTML_WINDOW].lower()
    return start.startswith("<") and ("<!doctype html" in start or "<html" in start)


def _decode(head: bytes) -> str | None:
    """Text if the bytes decode as UTF-16 (with BOM), UTF-8 or a single-byte code page."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return head.decode("utf-16", errors="ignore")
    if b"\x00" in head:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return decoder.decode(head, final=False)  # a multi-byte char may be cut at the end
    except UnicodeDecodeError:
        pass
    if sum(b < 0x09 or 0x0E <= b < 0x20 for b in head) > len(head) // 100:
        return None  # control characters: binary, not a code page
    return head.decode("cp1252", errors="replace")


def _is_json_lines(text: str) -> bool:
    lines = [line.strip() for line in text.splitlines()[:50] if line.strip()]
    if len(lines) < 2:
        return False
    complete = lines[:-1]  # the last line may be cut by the sniff window
    try:
        return all(isinstance(json.loads(line), dict) for line in complete)
    except ValueError:
        return False


def _looks_like_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        # Cut off by the sniff window rather than malformed: still JSON.
        return exc.pos >= len(text) - 1 or len(text) >= SNIFF_BYTES // 2
    return True


def _delimited_format(text: str) -> str:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) >= 1:
        for delimiter, fmt in (("\t", "tsv"), (",", "csv"), (";", "csv"), ("|", "csv")):
            counts = [line.count(delimiter) for line in lines[:-1] or lines]
            if counts and min(counts) > 0 and max(counts) - min(counts) <= max(1, max(counts) // 4):
                return fmt
    return "txt"
