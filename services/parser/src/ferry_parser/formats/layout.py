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

import bisect
import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import polars as pl

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

    def __init__(self, handle: BinaryIO, line: int = 0) -> None:
        self._handle = handle
        self.offset = handle.tell()
        self.line = line
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


def scan(source: Path, dialect: Dialect, *, fast: bool = True) -> Layout:
    """The layout of the UTF-8 file ``source`` written in ``dialect``.

    Pieces of plain lines (every quote closed on its line, fields quoted whole)
    are measured by polars in bulk (``_measure``); anything else, from the header
    to a value spanning lines, goes record by record through Python's csv module.
    Both give the same layout; ``fast=False`` takes the csv module throughout.
    """
    csv.field_size_limit(MAX_LINE_BYTES)  # characters; process-wide, so set on every scan
    layout = Layout(width=len(dialect.columns))
    delimiter = dialect.delimiter or NO_DELIMITER
    with source.open("rb") as handle:
        lines = Lines(handle)
        for _ in range(dialect.skip_lines):
            next(lines, None)
        scanner = _Scanner(layout, handle, lines)
        if dialect.has_header:
            scanner.skip_header(delimiter)
        while True:
            facts = _measure(handle, scanner.offset, delimiter, layout.width) if fast else None
            if facts is not None:
                scanner.add_piece(facts, delimiter)
            elif not scanner.scan_block(delimiter):
                break
        if scanner.last_span:
            _check_last_record(handle, scanner.last_start, dialect.delimiter)
    return layout


class _Scanner:
    """Fills a ``Layout`` record by record, whether they come from measured pieces or from the csv module.

    A block is open until a record brings it to ``BLOCK_BYTES`` or ``BLOCK_RECORDS``;
    blank lines belong to the block they fall in.
    """

    def __init__(self, layout: Layout, handle: BinaryIO, lines: Lines) -> None:
        self.layout = layout
        self.handle = handle
        self.offset, self.line = lines.offset, lines.line
        self.start, self.count, self.spaces = self.offset, 0, False
        """The open block: where it starts, its records, whether a blank line of it has spaces."""
        self.last_start = self.last_span = 0
        """Where the last record read by the csv module starts, and how many lines it spans (0: none)."""

    def _records(self, delimiter: str) -> tuple[Lines, Iterator[list[str]]]:
        self.handle.seek(self.offset)
        lines = Lines(self.handle, line=self.line)
        return lines, csv.reader(lines, delimiter=delimiter, quotechar=QUOTE)

    def skip_header(self, delimiter: str) -> None:
        """Read past the first record with a value (the header)."""
        lines, records = self._records(delimiter)
        try:
            for record in records:
                if not is_blank(record):
                    break
        except csv.Error as exc:
            raise _describe(exc, lines.line) from None
        self.offset, self.line = lines.offset, lines.line
        self.start = self.offset

    def scan_block(self, delimiter: str) -> bool:
        """Read records with the csv module until a block closes; False at the end of the file."""
        lines, records = self._records(delimiter)
        width, started = self.layout.width, self.offset
        try:
            for record in records:
                first_line, record_start = self.line + 1, self.offset
                self.last_start, self.last_span = record_start, lines.line - self.line
                self.offset, self.line = lines.offset, lines.line
                if is_blank(record):
                    self.spaces = self.spaces or any(record)
                elif self._record(first_line, _fields(record, width)):
                    break
        except csv.Error as exc:
            raise _describe(exc, lines.line) from None
        self.offset, self.line = lines.offset, lines.line
        if self.offset == started:
            self._close()
            return False
        return True

    def add_piece(self, facts: _Piece, delimiter: str) -> None:
        """The records of a measured piece, every line one record or blank: block bounds found by bisection."""
        width = self.layout.width
        for index, text in facts.text.items():
            fields = _fields(next(csv.reader([text], delimiter=delimiter, quotechar=QUOTE)), width)
            if fields != width:
                self._note(self.line + index + 1, fields)
        base, ends, records, spaced = self.offset, facts.ends, facts.records, facts.spaced
        taken = first = 0  # records of the piece counted so far; the first line of the open block's rest
        while taken < len(records):
            by_count = taken + BLOCK_RECORDS - self.count - 1
            by_bytes = bisect.bisect_left(records, bisect.bisect_left(ends, self.start - base + BLOCK_BYTES), taken)
            closing = min(by_count, by_bytes)
            if closing >= len(records):
                break
            line = records[closing]
            self.count += closing - taken + 1
            self.spaces = self.spaces or spaced[line + 1] > spaced[first]
            self.offset = base + ends[line]
            self._close()
            taken, first = closing + 1, line + 1
        self.count += len(records) - taken
        self.spaces = self.spaces or spaced[-1] > spaced[first]
        self.offset = base + ends[-1]
        self.line += len(ends)
        self.last_span = 0  # every quote of the piece is closed on its line

    def _record(self, line: int, fields: int) -> bool:
        """Count a record that ends at ``self.offset``; True when it closes the block."""
        self.count += 1
        if fields != self.layout.width:
            self._note(line, fields)
        if self.offset - self.start >= BLOCK_BYTES or self.count >= BLOCK_RECORDS:
            self._close()
            return True
        return False

    def _close(self) -> None:
        if self.count:
            self.layout.blocks.append(Block(self.start, self.offset, self.count, self.spaces))
            self.layout.records += self.count
        self.start, self.count, self.spaces = self.offset, 0, False

    def _note(self, line: int, fields: int) -> None:
        width, layout = self.layout.width, self.layout
        if fields < width:
            layout.ragged.short += 1
            layout.ragged.note(line)
        elif fields > width:
            layout.ragged.long += 1
            layout.ragged.note(line)
            if fields - width > MAX_EXTRA_FIELDS:
                layout.ragged.clipped += 1
            layout.extra = max(layout.extra, min(fields - width, MAX_EXTRA_FIELDS))


def _fields(record: list[str], width: int) -> int:
    """The record's number of fields, not counting empty ones beyond ``width`` at its end."""
    fields = len(record)
    while fields > width and not record[fields - 1]:
        fields -= 1
    return fields


@dataclass(frozen=True)
class _Piece:
    """What ``_measure`` found in a piece of whole lines."""

    ends: list[int]
    """Where each line ends, from the piece's start."""
    records: list[int]
    """The lines that are records (not blank), in order."""
    spaced: list[int]
    """How many blank lines with spaces come before each line (and, last, in all)."""
    text: dict[int, str]
    """The records whose fields may number other than the header's, for the csv module to count exactly."""


def _measure(handle: BinaryIO, offset: int, delimiter: str, width: int) -> _Piece | None:
    """The lines from ``offset`` up to ``BLOCK_BYTES`` in bulk, or ``None`` where the csv module must read.

    It must when the piece is not plain: a line break inside quotes, a stray or
    unclosed quote, a quote that does not enclose a whole field, a carriage
    return other than before a line feed, a line longer than the piece or than
    ``MAX_LINE_BYTES``, or a blank-looking line with quotes. (None at the end of the file as well.)
    """
    handle.seek(offset)
    data = handle.read(BLOCK_BYTES)
    if not data:
        return None
    end = data.rfind(b"\n") + 1
    if len(data) == BLOCK_BYTES:
        if not end:
            return None  # one line longer than a piece
        data = data[:end]
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    frame = _lines(data)
    delim, quote = re.escape(delimiter), re.escape(QUOTE)
    line = pl.col("line").str.strip_suffix("\r") if b"\r" in data else pl.col("line")
    facts = frame.select(
        size=pl.col("line").str.len_bytes() + 1,
        quoted=line.str.contains(QUOTE, literal=True),
        blank=~line.str.contains(f"[^\\s{delim}{quote}]"),
        chars=line.str.len_chars(),
        fields=line.str.count_matches(delimiter, literal=True) + 1,
    )
    # A line of only quotes and delimiters may be blank ("") or not (""""): the csv module decides.
    if (facts["blank"] & facts["quoted"]).any() or facts["size"].max() > MAX_LINE_BYTES:  # type: ignore[operator]
        return None
    if facts["quoted"].any():
        # Only lines with quotes need the costlier reading: each quote must enclose a whole field.
        field = f"(?:[^{quote}{delim}]*|{quote}(?:[^{quote}]|{quote}{quote})*{quote})"
        enclosed = f"{quote}(?:[^{quote}]|{quote}{quote})*{quote}"
        quoted = (
            frame.with_row_index("index")
            .filter(facts["quoted"])
            .select(
                "index",
                plain=line.str.contains(f"^{field}(?:{delim}{field})*$"),
                fields=line.str.replace_all(enclosed, "Q").str.count_matches(delimiter, literal=True) + 1,
            )
        )
        if not quoted["plain"].all():
            return None
        facts = facts.with_columns(facts["fields"].scatter(quoted["index"], quoted["fields"]))
    ends = facts["size"].cum_sum().to_list()
    if not data.endswith(b"\n"):
        ends[-1] -= 1  # the file's last line, without a line break
    measured = facts.select(
        records=pl.arg_where(~pl.col("blank")).implode(),
        ragged=pl.arg_where(~pl.col("blank") & (pl.col("fields") != width)).implode(),
        spaced=pl.concat(
            [pl.lit(0, pl.UInt32), (pl.col("blank") & (pl.col("chars") >= pl.col("fields"))).cum_sum()]
        ).implode(),  # a blank line with more characters than delimiters has spaces
    ).row(0)
    records, ragged, spaced = measured
    texts = frame["line"].gather(ragged).to_list() if ragged else []
    return _Piece(
        ends=ends,
        records=records,
        spaced=spaced,
        text={i: t.removesuffix("\r") for i, t in zip(ragged, texts, strict=True)},
    )


def _lines(data: bytes) -> pl.DataFrame:
    """The lines of ``data`` as a frame (``line``), split by polars; invalid UTF-8 decoded as ``Lines`` does."""
    try:
        lines = pl.Series("line", [data], dtype=pl.Binary).cast(pl.String).str.split("\n").explode()
    except pl.exceptions.PolarsError:
        lines = pl.Series("line", data.decode("utf-8", errors="replace").split("\n"), dtype=pl.String)
    return lines.slice(0, len(lines) - 1).to_frame() if data.endswith(b"\n") else lines.to_frame()


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
