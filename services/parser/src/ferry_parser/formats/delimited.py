"""Delimited text (``csv``, ``tsv``, ``txt``): one table, read by polars in bounded batches.

Two streaming passes over the file: the first types every column from all of
its values (so row one million cannot contradict a type guessed from row
one), the second converts and yields the rows. Both read every cell as text,
so no value can fail to parse; only the file's structure can (an unclosed
quote), and that is a ``MalformedCsv``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from ferry_core.events import ColumnInfo
from ferry_parser.errors import MalformedCsv
from ferry_parser.formats import text
from ferry_parser.formats.base import Item, ReadOptions, TableHeader
from ferry_parser.formats.dialect import Dialect, sniff
from ferry_parser.formats.inference import FLOAT, TEXT_CANDIDATES, ColumnType, TypeInference, convert_all
from ferry_parser.formats.plaintext import read_text_pages

INFER_BATCH_ROWS = 50_000
_NO_DELIMITER = "\x1f"  # the ASCII unit separator: one value per line, commas and all
_QUOTE = '"'


def read_delimited(path: Path, options: ReadOptions) -> Iterator[Item]:
    encoding = text.detect_encoding(path)
    sample, at_end = text.read_sample(path, encoding)
    text.require_content(sample, at_end)
    lone_cr = "\r" in sample and "\n" not in sample
    source = text.utf8_path(path, encoding, options.workdir, translate_newlines=lone_cr)
    dialect = sniff(sample, at_end=at_end, fmt=options.format)
    if not dialect.columns:
        raise MalformedCsv("The file could not be read as delimited text: no row could be split into values.")
    if dialect.delimiter is None and options.format == "txt":
        yield from read_text_pages(source, encoding, options)
        return
    try:
        yield from _read_table(source, dialect, encoding, options)
    except pl.exceptions.PolarsError as exc:
        raise MalformedCsv(_describe(exc)) from exc


def _read_table(source: Path, dialect: Dialect, encoding: str, options: ReadOptions) -> Iterator[Item]:
    candidates = _candidates(dialect.delimiter)
    inference = TypeInference(dialect.columns, candidates)
    rows_total = 0
    for batch in _scan(source, dialect).collect_batches(chunk_size=INFER_BATCH_ROWS):
        inference.observe(batch)
        rows_total += batch.height
    types = inference.result()
    yield TableHeader(
        columns=[ColumnInfo(name=name, type=t.type) for name, t in types.items()],
        rows_total=rows_total,
        metadata={
            "delimiter": dialect.delimiter,
            "encoding": encoding,
            "has_header": dialect.has_header,
            "quote_char": _QUOTE,
        },
        warnings=list(dialect.warnings) + _encoding_warnings(encoding),
    )
    conversions = convert_all(types)
    for batch in _scan(source, dialect).collect_batches(chunk_size=options.batch_rows):
        yield batch.select(conversions)


def _scan(source: Path, dialect: Dialect) -> pl.LazyFrame:
    """Every cell as text, under the names the dialect chose; rows without a single value are left out."""
    scan = pl.scan_csv(
        source,
        separator=dialect.delimiter or _NO_DELIMITER,
        has_header=dialect.has_header,
        new_columns=dialect.columns,
        skip_lines=dialect.skip_lines,
        quote_char=_QUOTE,
        infer_schema=False,
        truncate_ragged_lines=True,
        raise_if_empty=False,
        encoding="utf8",
    )
    return scan.filter(~pl.all_horizontal(pl.all().is_null()))


def _candidates(delimiter: str | None) -> tuple[ColumnType, ...]:
    """With commas between values, a comma inside a number is a thousands separator, not a decimal one."""
    if delimiter == ",":
        return tuple(c for c in TEXT_CANDIDATES if c != ColumnType(FLOAT, ","))
    return TEXT_CANDIDATES


def _encoding_warnings(encoding: str) -> list[str]:
    if encoding in ("cp1252", "latin-1"):
        return [f"The file is not valid UTF-8; it was read as {encoding}."]
    return []


def _describe(exc: pl.exceptions.PolarsError) -> str:
    detail = str(exc)
    if "not properly escaped" in detail or "quote" in detail.lower():
        return "The file is not valid delimited text: a quoted value is never closed."
    first_line = detail.strip().splitlines()[0] if detail.strip() else type(exc).__name__
    return f"The file could not be read as delimited text: {first_line[:300]}"
