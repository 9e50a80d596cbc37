"""How a delimited text file is written: its delimiter, whether it has a header, its column names.

Everything here is decided from a sample of the file's start, the way a person
would glance at it: the delimiter is the candidate that splits the lines into
the same number of fields most consistently; the first row is a header unless
its values look like the data below them.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from ferry_parser.errors import MalformedCsv
from ferry_parser.formats.inference import FLOAT, INTEGER, STRING, ColumnType, fits, infer_types

DELIMITERS = (",", ";", "\t", "|")
PREFERENCE = {"csv": (",", ";", "\t", "|"), "tsv": ("\t", ",", ";", "|")}
"""Which delimiter wins a tie, by declared format; ``txt`` and others prefer tabs (spreadsheet exports)."""
_DEFAULT_PREFERENCE = ("\t", ",", ";", "|")
SAMPLE_RECORDS = 1000
MIN_CONSISTENCY = {"csv": 0.5, "tsv": 0.5}
"""Share of lines that must split alike; a declared table tolerates ragged rows, a ``txt`` may be prose."""
_DEFAULT_MIN_CONSISTENCY = 0.9
_EXCEL_SEP_LINE = re.compile(r"^sep=(.)\s*$")
_FIELD_LIMIT = 16 * 1024 * 1024


@dataclass(frozen=True)
class Dialect:
    delimiter: str | None
    """``None`` when no candidate splits the lines: one value per line."""
    has_header: bool
    columns: list[str]
    skip_lines: int = 0
    """Lines before the first record that are not records: Excel's ``sep=;`` hint (blank lines never are)."""
    warnings: list[str] = field(default_factory=list)


def sniff(sample: str, *, at_end: bool, fmt: str) -> Dialect:
    """The dialect of the text that starts with ``sample`` (the whole file when ``at_end``)."""
    # Python's csv module refuses fields over 128 KiB unless told otherwise.
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    lines = sample.splitlines(keepends=True)
    skip = 0
    forced: str | None = None
    if lines and (hint := _EXCEL_SEP_LINE.match(lines[0].strip("\r\n"))):
        forced, skip = hint.group(1), 1
        lines = lines[1:]
    while lines and not lines[0].strip():
        lines = lines[1:]
    if not at_end and len(lines) > 1:
        lines = lines[:-1]  # the last line of a cut sample may be partial
    text = "".join(lines)
    delimiter = forced or detect_delimiter(
        text, PREFERENCE.get(fmt, _DEFAULT_PREFERENCE), MIN_CONSISTENCY.get(fmt, _DEFAULT_MIN_CONSISTENCY)
    )
    if at_end and delimiter is not None:
        _check_quotes(text, delimiter)
    records = _records(text, delimiter)
    if not records:
        return Dialect(delimiter, has_header=True, columns=[], skip_lines=skip)
    has_header = detect_header(records)
    columns, warnings = column_names(records[0], has_header=has_header)
    return Dialect(delimiter, has_header, columns, skip, warnings)


def detect_delimiter(
    text: str, preference: tuple[str, ...] = _DEFAULT_PREFERENCE, min_consistency: float = 0.5
) -> str | None:
    """The delimiter that splits most lines into the same number (at least two) of fields.

    Empty fields at the end of a line do not count: many writers end every row with a delimiter.
    """
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for delimiter in DELIMITERS:
        counts = [_width(record) for record in _records(text, delimiter)]
        if not counts:
            continue
        fields, frequency = Counter(counts).most_common(1)[0]
        consistency = frequency / len(counts)
        if fields < 2 or consistency < min_consistency:
            continue
        score = (round(consistency, 2), -preference.index(delimiter), fields)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def detect_header(records: list[list[str]]) -> bool:
    """Whether the first record names the columns rather than holding data.

    Each column votes: where the values below are typed (numbers, dates,
    booleans), a first value of the same type says "data" and any other says
    "header"; where they are text, a number or date on top says "data". A tie
    means a header, as most files have one.
    """
    first, body = records[0], records[1:]
    width = len(first)
    types = _column_types(body, width) if body else [ColumnType(STRING)] * width
    score = 0
    for value, column_type in zip(first, types, strict=True):
        if not value.strip():
            continue
        if column_type.type != STRING:
            score += -1 if fits(value, column_type) else 1
        elif _looks_typed(value):
            score -= 1
    named = [v.strip() for v in first if v.strip()]
    if len(set(named)) < len(named):
        score -= 2  # column names are unique; repeated values are data
    return score >= 0


def column_names(first: list[str], *, has_header: bool) -> tuple[list[str], list[str]]:
    """Unique, non-empty names for the columns, and warnings about any that had to be made up."""
    if not has_header:
        return [f"column_{i}" for i in range(1, len(first) + 1)], []
    names: list[str] = []
    renamed: list[str] = []
    unnamed = 0
    for i, raw in enumerate(first, start=1):
        name = raw.strip()
        if not name:
            name, unnamed = f"column_{i}", unnamed + 1
        base, n = name, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        if name != base:
            renamed.append(f"{base} → {name}")
        names.append(name)
    warnings = []
    if unnamed:
        warnings.append(f"{unnamed} column(s) had no name in the header and were named column_N.")
    if renamed:
        warnings.append("Repeated column names were made unique: " + ", ".join(renamed) + ".")
    return names, warnings


def _records(text: str, delimiter: str | None) -> list[list[str]]:
    """Non-blank records of ``text`` split by ``delimiter`` (one field per line when ``None``)."""
    if delimiter is None:
        return [[line] for line in text.splitlines() if line.strip()]
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        return [
            record
            for record, _ in zip(reader, range(SAMPLE_RECORDS), strict=False)
            if any(value.strip() for value in record)
        ]
    except csv.Error:
        return []


def _width(record: list[str]) -> int:
    """Fields of ``record`` up to its last non-empty one."""
    width = len(record)
    while width > 1 and not record[width - 1]:
        width -= 1
    return width


def _check_quotes(text: str, delimiter: str) -> None:
    """A quote still open at the end of the file swallows every line after it: refuse it."""
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):
            raise MalformedCsv("The file is not valid delimited text: a quoted value is never closed.") from None


def _column_types(body: list[list[str]], width: int) -> list[ColumnType]:
    columns = {f"c{j}": [record[j] if j < len(record) else None for record in body] for j in range(width)}
    types = infer_types(pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String)))
    return list(types.values())


def _looks_typed(value: str) -> bool:
    return any(fits(value, ColumnType(kind)) for kind in (INTEGER, FLOAT)) or bool(
        re.match(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", value.strip())
    )
