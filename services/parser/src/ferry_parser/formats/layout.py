"""Where the records of a delimited file lie: one bounded pass with Python's ``csv`` module.

Before polars sees a byte, this pass reads the UTF-8 file line by line, never
more than ``MAX_LINE_BYTES`` at once, and

- refuses a line or a value longer than that (``LineTooLong``), so a file that
  is one 500 MB line costs a bounded read, not a 500 MB allocation;
- refuses a quoted value still open at the end of the file (``MalformedCsv``);
- counts the records, and notes the ragged ones (a number of fields other than
  the header's) with their line numbers;
- cuts the file into blocks of whole records, each parsed later on its own, so
  that memory holds one block at a time whatever the file's size (polars' own
  streaming reader reads ahead of its consumer without limit).

A record without a value (a blank line, ``,,,``, only spaces) is not a record.
Trailing empty fields beyond the header (``1,2,`` under ``a,b``) are not
ragged: nothing is lost by ignoring them.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ferry_parser.errors import LineTooLong, MalformedCsv
from ferry_parser.formats.dialect import Dialect

MAX_LINE_BYTES = 64 * 1024 * 1024
"""The longest line, and the longest value, a delimited file may have."""
BLOCK_BYTES = 8 * 1024 * 1024
BLOCK_RECORDS = 100_000
"""A block ends after the record that reaches either bound (a single record may exceed them)."""
MAX_EXTRA_FIELDS = 256
"""Values beyond the header kept per row; more are dropped, with a warning."""
RAGGED_LINES_KEPT = 10
NO_DELIMITER = "\x1f"
"""The ASCII unit separator: one value per line, commas and all."""
QUOTE = '"'
CR_STAND_IN = "\ufffe"
"""Stands in for a carriage return inside a line, which Python's csv module would take for a line end
(polars, like most writers, ends lines with ``\\n`` only). A noncharacter: never in real text."""


@dataclass(frozen=True)
class Block:
    """Bytes ``start`` to ``end`` of the file: whole records, ``records`` of them not blank."""

    start: int
    end: int
    records: int
    spaces: bool = False
    """Whether some line without a value has blank space in it (not just delimiters)."""


@dataclass
class Ragged:
    """Rows whose number of fields differs from the header's."""

    short: int = 0
    long: int = 0
    clipped: int = 0
    """Long rows with more than ``MAX_EXTRA_FIELDS`` extra values (those beyond were dropped)."""
    first_lines: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return self.short + self.long

    def note(self, line: int) -> None:
        if len(self.first_lines) < RAGGED_LINES_KEPT:
            self.first_lines.append(line)


@dataclass
class Layout:
    width: int
    """Fields of the header (or of the first row without one)."""
    blocks: list[Block] = field(default_factory=list)
    records: int = 0
    extra: int = 0
    """Most values any row has beyond the header (at most ``MAX_EXTRA_FIELDS``)."""
    ragged: Ragged = field(default_factory=Ragged)


class Lines:
    """The decoded lines of a binary file for ``csv.reader``, each at most ``MAX_LINE_BYTES``.

    Counts lines and bytes as it goes; a lone ``\\r`` inside a line becomes ``CR_STAND_IN``.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.offset = handle.tell()
        self.line = 0
        if self.offset == 0 and handle.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8:
            self.offset = len(codecs.BOM_UTF8)
        handle.seek(self.offset)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.line += 1
        if len(raw) > MAX_LINE_BYTES:
            raise LineTooLong(
                f"Line {self.line} is longer than {_mb(MAX_LINE_BYTES)}; the file cannot be read as a table. "
                "A delimited file needs one record per line (is it a different format?)."
            )
        self.offset += len(raw)
        line = raw.decode("utf-8", errors="replace")
        if "\r" in line:
            body, end = (line[:-2], "\r\n") if line.endswith("\r\n") else (line, "")
            line = body.replace("\r", CR_STAND_IN) + end
        return line


def scan(source: Path, dialect: Dialect) -> Layout:
    """The layout of the UTF-8 file ``source`` written in ``dialect``."""
    csv.field_size_limit(MAX_LINE_BYTES)  # characters; process-wide, so set on every scan
    layout = Layout(width=len(dialect.columns))
    with source.open("rb") as handle:
        lines = Lines(handle)
        for _ in range(dialect.skip_lines):
            next(lines, None)
        reader = csv.reader(lines, delimiter=dialect.delimiter or NO_DELIMITER, quotechar=QUOTE)
        try:
            last_start, last_span = _scan_records(reader, lines, layout, skip_header=dialect.has_header)
        except csv.Error as exc:
            raise _describe(exc, lines.line) from None
        if last_span:
            _check_last_record(handle, last_start, dialect.delimiter)
    return layout


def _scan_records(reader: Iterator[list[str]], lines: Lines, layout: Layout, *, skip_header: bool) -> tuple[int, int]:
    """Fill ``layout`` from ``reader``; return where the last record starts and how many lines it spans."""
    width, ragged = layout.width, layout.ragged
    seen_lines, seen_bytes = lines.line, lines.offset
    block_start = seen_bytes
    records = 0
    spaces = False
    record_start = span = 0
    for record in reader:
        first_line, record_start, span = seen_lines + 1, seen_bytes, lines.line - seen_lines
        seen_lines, seen_bytes = lines.line, lines.offset
        if is_blank(record):
            spaces = spaces or any(record)
            continue
        if skip_header:
            skip_header, block_start = False, seen_bytes
            continue
        records += 1
        fields = len(record)
        if fields < width:
            ragged.short += 1
            ragged.note(first_line)
        elif fields > width:
            while fields > width and not record[fields - 1]:
                fields -= 1
            if fields > width:
                ragged.long += 1
                ragged.note(first_line)
                if fields - width > MAX_EXTRA_FIELDS:
                    ragged.clipped += 1
                layout.extra = max(layout.extra, min(fields - width, MAX_EXTRA_FIELDS))
        if seen_bytes - block_start >= BLOCK_BYTES or records >= BLOCK_RECORDS:
            layout.blocks.append(Block(block_start, seen_bytes, records, spaces))
            layout.records += records
            block_start, records, spaces = seen_bytes, 0, False
    if records:
        layout.blocks.append(Block(block_start, seen_bytes, records, spaces))
        layout.records += records
    return record_start, span


def is_blank(record: list[str]) -> bool:
    """Whether no field of ``record`` holds more than blank space."""
    if record and record[0] and not record[0][0].isspace():
        return False  # the common case, decided without joining the fields
    return not "".join(record).strip()


def _check_last_record(handle: BinaryIO, start: int, delimiter: str | None) -> None:
    """A quote left open swallows the rest of the file into the last record: refuse it.

    Python's csv module (lenient, like polars) takes an unclosed quote as running
    to the end of the file; only a strict reading of the last record tells.
    """
    handle.seek(start)
    try:
        for _ in csv.reader(Lines(handle), delimiter=delimiter or NO_DELIMITER, quotechar=QUOTE, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise MalformedCsv("The file is not valid delimited text: a quoted value is never closed.") from None


def _describe(exc: csv.Error, line: int) -> MalformedCsv | LineTooLong:
    if "field limit" in str(exc):
        return LineTooLong(
            f"A value ending at line {line} is longer than {_mb(MAX_LINE_BYTES)} "
            "(is a quote left open, so that the value runs on over many lines?)."
        )
    return MalformedCsv(f"The file is not valid delimited text at line {line}: {exc}.")


def _mb(size: int) -> str:
    return f"{size // (1024 * 1024)} MB"
