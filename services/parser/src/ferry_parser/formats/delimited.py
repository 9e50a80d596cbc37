"""Delimited text (``csv``, ``tsv``, ``txt``): one table, read in bounded blocks of whole records.

Two passes over the file, none holding more than one block: ``layout.scan``
finds the records (refusing over-long lines, noting ragged rows); the second
types the columns from the first block, then converts and yields every block,
checking each against those types. Should row one million contradict a type
the first block gave (``Retype``), the worker starts the file over with
``ReadOptions.types_from_all_rows``: a pass that types every column from all of
its values, then the converting pass. Blocks are parsed by polars, every cell as
text, so no value can fail to parse; a block polars cannot read the way
Python's csv module does (a stray quote inside a value, as in ``5" pipe``) is
parsed by the csv module instead.

Ragged rows are kept: a short row is padded with nulls; values beyond the
header go, joined by the delimiter, into one extra text column (``_extra``,
made unique against the header). Both are reported in the summary.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from ferry_core.events import ColumnInfo
from ferry_parser.errors import MalformedCsv, Retype
from ferry_parser.formats import layout, text
from ferry_parser.formats.base import Item, ReadOptions, TableHeader
from ferry_parser.formats.dialect import Dialect, sniff
from ferry_parser.formats.inference import (
    FLOAT,
    STRING_TYPE,
    TEXT_CANDIDATES,
    ColumnType,
    TypeInference,
    convert_all,
    misfits,
)
from ferry_parser.formats.layout import CR_STAND_IN, NO_DELIMITER, QUOTE, Block, Layout, Lines, is_blank
from ferry_parser.formats.plaintext import read_text_pages

EXTRA_COLUMN = "_extra"
_RAGGED_LINES_SHOWN = 3


def read_delimited(path: Path, options: ReadOptions) -> Iterator[Item]:
    encoding = text.detect_encoding(path)
    sample, at_end = text.read_sample(path, encoding)
    text.require_content(sample, at_end)
    lone_cr = "\r" in sample and "\n" not in sample
    if options.format == "txt" and not at_end and "\n" not in sample and not lone_cr:
        # Not one line break in the sample: prose (or one huge line), never a table.
        yield from read_text_pages(path, encoding, options)
        return
    dialect = sniff(sample, at_end=at_end, fmt=options.format)
    if not dialect.columns:
        raise MalformedCsv("The file could not be read as delimited text: no row could be split into values.")
    if dialect.delimiter is None and options.format == "txt":
        yield from read_text_pages(path, encoding, options)
        return
    source = text.utf8_path(path, encoding, options.workdir, translate_newlines=lone_cr)
    yield from _read_table(source, dialect, encoding, options)


def _read_table(source: Path, dialect: Dialect, encoding: str, options: ReadOptions) -> Iterator[Item]:
    found = layout.scan(source, dialect)
    extra = _extra_name(dialect.columns) if found.extra else None
    inference = TypeInference(dialect.columns, _candidates(dialect.delimiter))
    with source.open("rb") as handle:
        for frame in _frames(handle, found, dialect, extra):
            inference.observe(frame)
            if not options.types_from_all_rows:
                break  # the first block decides; ``_converted`` checks every later row against it
    types = inference.result()
    if extra:
        types[extra] = STRING_TYPE
    yield TableHeader(
        columns=[ColumnInfo(name=name, type=t.type) for name, t in types.items()],
        rows_total=found.records,
        metadata={
            "delimiter": dialect.delimiter,
            "encoding": encoding,
            "has_header": dialect.has_header,
            "quote_char": QUOTE,
            "ragged_rows": {"count": found.ragged.count, "first_lines": found.ragged.first_lines},
        },
        warnings=list(dialect.warnings) + _encoding_warnings(encoding) + _ragged_warnings(found, dialect, extra),
    )
    conversions = convert_all(types)
    with source.open("rb") as handle:
        for frame in _frames(handle, found, dialect, extra):
            yield from _converted(frame, types, conversions).iter_slices(options.batch_rows)


def _converted(frame: pl.DataFrame, types: dict[str, ColumnType], conversions: list[pl.Expr]) -> pl.DataFrame:
    """The block's values as ``types`` say; ``Retype`` if a value present in the text did not convert.

    Null counts are known to polars without a pass over the values: when a typed
    column has no more nulls than its text had, nothing was lost. Only otherwise
    (blanks, markers such as ``N/A``, infinities among the values) are they read again.
    """
    converted = frame.select(conversions)
    for name, column_type in types.items():
        nulls = converted.get_column(name).null_count()
        if column_type.type == STRING_TYPE.type or nulls == frame.get_column(name).null_count():
            continue
        if frame.select(misfits(name, column_type)).item():
            raise Retype(f"a value of column {name!r} is not {column_type.type}, as the first rows were")
    return converted


def _frames(handle: BinaryIO, found: Layout, dialect: Dialect, extra: str | None) -> Iterator[pl.DataFrame]:
    """Each block as a frame of text columns: the header's, then ``extra`` when rows run longer."""
    names = list(dialect.columns)
    extra_names = [f"\x00extra{i}" for i in range(found.extra)]
    for block in found.blocks:
        handle.seek(block.start)
        data = handle.read(block.end - block.start)
        frame = _parse(data, block, dialect.delimiter, names + extra_names)
        if extra:
            delimiter = dialect.delimiter or NO_DELIMITER
            joined = pl.concat_str([pl.col(n).fill_null("") for n in extra_names], separator=delimiter)
            joined = joined.str.strip_chars_end(delimiter)
            frame = frame.select(*names, pl.when(joined != "").then(joined).alias(extra))
        yield frame


def _parse(data: bytes, block: Block, delimiter: str | None, names: list[str]) -> pl.DataFrame:
    """A block's records, empty values as nulls; by polars, else (when it disagrees) by the csv module."""
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            separator=delimiter or NO_DELIMITER,
            quote_char=QUOTE,
            schema=dict.fromkeys(names, pl.String),
            missing_columns="insert",
            extra_columns="ignore",
            truncate_ragged_lines=True,
            raise_if_empty=False,
            encoding="utf8",
        )
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        pass
    else:
        frame = _without_blanks(frame, spaces=block.spaces)
        if frame.height == block.records:
            return frame
    return _without_blanks(_parse_with_csv(data, delimiter, names), spaces=False)


def _parse_with_csv(data: bytes, delimiter: str | None, names: list[str]) -> pl.DataFrame:
    """The block read the way ``layout.scan`` read it (and counted its records)."""
    width = len(names)
    records = csv.reader(Lines(io.BytesIO(data)), delimiter=delimiter or NO_DELIMITER, quotechar=QUOTE)
    rows: list[Any] = []
    for record in records:
        if not is_blank(record):
            rows.append(record if len(record) == width else (record + [""] * width)[:width])
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    frame = pl.DataFrame(dict(zip(names, columns, strict=True)), schema=dict.fromkeys(names, pl.String))
    if b"\r" in data:
        frame = frame.with_columns(pl.col(n).str.replace_all(CR_STAND_IN, "\r", literal=True) for n in names)
    return frame


def _without_blanks(frame: pl.DataFrame, *, spaces: bool) -> pl.DataFrame:
    """Empty values (quoted or not) as nulls, and rows without a value left out (``layout.is_blank``).

    Only a block with ``spaces`` (as the layout found) needs the costlier test for values of blank space.
    """
    frame = frame.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in frame.columns)
    if spaces:
        blank = pl.all_horizontal(~pl.col(n).str.contains(r"\S").fill_null(False) for n in frame.columns)
    else:
        blank = pl.all_horizontal(pl.col(n).is_null() for n in frame.columns)
    return frame.filter(~blank)


def _extra_name(columns: list[str]) -> str:
    name, n = EXTRA_COLUMN, 2
    while name in columns:
        name, n = f"{EXTRA_COLUMN}_{n}", n + 1
    return name


def _candidates(delimiter: str | None) -> tuple[ColumnType, ...]:
    """With commas between values, a comma inside a number is a thousands separator, not a decimal one."""
    if delimiter == ",":
        return tuple(c for c in TEXT_CANDIDATES if c != ColumnType(FLOAT, ","))
    return TEXT_CANDIDATES


def _encoding_warnings(encoding: str) -> list[str]:
    if encoding in ("cp1252", "latin-1"):
        return [f"The file is not valid UTF-8; it was read as {encoding}."]
    return []


def _ragged_warnings(found: Layout, dialect: Dialect, extra: str | None) -> list[str]:
    ragged = found.ragged
    if not ragged.count:
        return []
    lines = ", ".join(str(n) for n in ragged.first_lines[:_RAGGED_LINES_SHOWN])
    rows = "1 row has" if ragged.count == 1 else f"{ragged.count} rows have"
    than = "the header" if dialect.has_header else "the first row"
    where = "at line" if ragged.count == 1 else "first at lines" if len(ragged.first_lines) > 1 else "first at line"
    handled = []
    if ragged.short:
        handled.append("short rows are padded with empty values")
    if extra:
        handled.append(f"values beyond the last column are kept in column {extra!r}")
    warnings = [f"{rows} a different number of fields than {than} ({where} {lines}); " + " and ".join(handled) + "."]
    if ragged.clipped:
        warnings.append(
            f"{ragged.clipped} row(s) have more than {layout.MAX_EXTRA_FIELDS} values beyond the last column; "
            "those beyond were dropped."
        )
    return warnings
