"""Column types: which of Ferry's six types fits every value, and how values become storable.

Text columns (every CSV column, JSON strings) are typed by trying each candidate
on every value, batch by batch, and keeping the candidates that never fail;
the first survivor in priority order wins. The same expressions convert the
values afterwards, so what inference accepted always converts.

Stored values are JSON/BSON-safe: integers, finite floats, booleans, strings
(dates as ``YYYY-MM-DD``, datetimes as ISO 8601, UTC ones ending in ``Z``),
nested JSON re-encoded as a string, and ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import polars as pl

INTEGER = "integer"
FLOAT = "float"
BOOLEAN = "boolean"
DATE = "date"
DATETIME = "datetime"
STRING = "string"

# Day-first before month-first: an ambiguous column (every day <= 12) reads day-first.
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y")
_TIMES = ("%H:%M:%S%.f", "%H:%M")
_DATELIKE = r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}$"
_DATETIMELIKE = r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}[T ]\d{1,2}:\d{2}"
_LEADING_ZERO = r"^[+-]?0\d"
_TRUE, _FALSE = "true", "false"
_MISSING = ("NA", "N/A", "#N/A", "NULL", "None", "NaN", "-")
NULL_MARKERS = sorted({v for m in _MISSING for v in (m, m.lower(), m.upper(), m.title())})
"""Text that means "no value" in a typed column (text columns keep it verbatim)."""


@dataclass(frozen=True)
class ColumnType:
    """A column's type; ``format`` is the date pattern for dates and datetimes, ``","`` for decimal commas."""

    type: str
    format: str | None = None
    patterns: tuple[DatetimePattern, ...] | None = field(default=None, compare=False)
    """For a datetime: the full patterns its values were seen in (``None``: try them all)."""


@dataclass(frozen=True)
class DatetimePattern:
    """A date format, a separator and a time, with or without a UTC offset (``%#z``)."""

    pattern: str
    aware: bool

    def parse(self, value: pl.Expr) -> pl.Expr:
        if self.aware:
            return value.str.strptime(pl.Datetime("us", "UTC"), self.pattern + "%#z", strict=False)
        return value.str.strptime(pl.Datetime("us"), self.pattern, strict=False)


def datetime_patterns(date_format: str) -> tuple[DatetimePattern, ...]:
    """Every way a datetime of ``date_format`` may be written; a value reads in one of them at most."""
    return tuple(
        DatetimePattern(f"{date_format}{separator}{time}", aware)
        for separator in ("T", " ")
        for time in _TIMES
        for aware in (True, False)
    )


STRING_TYPE = ColumnType(STRING)
DATE_CANDIDATES = tuple(ColumnType(DATE, f) for f in DATE_FORMATS)
DATETIME_CANDIDATES = tuple(ColumnType(DATETIME, f) for f in DATE_FORMATS)
TEXT_CANDIDATES = (
    ColumnType(BOOLEAN),
    ColumnType(INTEGER),
    ColumnType(FLOAT),
    ColumnType(FLOAT, ","),
    *DATE_CANDIDATES,
    *DATETIME_CANDIDATES,
)
"""Everything a CSV cell may turn out to be, in priority order."""

_CHEAP = (BOOLEAN, INTEGER, FLOAT)


class TypeInference:
    """Narrows each text column's candidate types as batches of the whole column are observed."""

    def __init__(self, columns: Sequence[str], candidates: Sequence[ColumnType] = TEXT_CANDIDATES) -> None:
        self._candidates = {name: list(candidates) for name in columns}
        self._seen = dict.fromkeys(columns, False)
        self._used: dict[tuple[str, ColumnType], set[DatetimePattern]] = {}
        """The datetime patterns some value of a column has been read with, per date-format candidate."""

    def observe(self, batch: pl.DataFrame) -> None:
        """Drop every candidate that fails on a value of ``batch`` (a frame of string columns)."""
        active = [name for name, alive in self._candidates.items() if alive or not self._seen[name]]
        if not active:
            return
        values = batch.select(_clean(name).alias(name) for name in active)
        self._observe_cheap(values)
        self._observe_dates(values)

    def _observe_cheap(self, values: pl.DataFrame) -> None:
        checks: list[pl.Expr] = []
        for name in values.columns:
            value = pl.col(name)
            checks.append(value.is_not_null().any().alias(f"{name}\0seen"))
            if self._alive(name, DATE, DATETIME):
                checks.append(_all(value, value.str.contains(_DATELIKE)).alias(f"{name}\0{DATE}"))
                checks.append(_all(value, value.str.contains(_DATETIMELIKE)).alias(f"{name}\0{DATETIME}"))
            for candidate in self._candidates[name]:
                if candidate.type in _CHEAP:
                    checks.append(_all(value, _parse(value, candidate).is_not_null()).alias(_key(name, candidate)))
        results = values.select(checks).row(0, named=True)
        for name in values.columns:
            self._seen[name] |= bool(results[f"{name}\0seen"])
            self._candidates[name] = [
                c for c in self._candidates[name] if results.get(_key(name, c), results.get(f"{name}\0{c.type}", True))
            ]

    def _observe_dates(self, values: pl.DataFrame) -> None:
        """Dates by their format; datetimes first by the patterns already seen, all of them only if needed.

        A datetime column is nearly always written one way: checking the patterns seen so
        far (one, typically) instead of all eight makes typing it several times cheaper.
        """
        checks: list[pl.Expr] = []
        for name in values.columns:
            value = pl.col(name)
            for candidate in self._candidates[name]:
                if candidate.type == DATE:
                    checks.append(_all(value, _parse(value, candidate).is_not_null()).alias(_key(name, candidate)))
                elif candidate.type == DATETIME and (used := self._used.get((name, candidate))):
                    parsed = pl.any_horizontal(p.parse(value).is_not_null() for p in used)
                    checks.append(_all(value, parsed).alias(_key(name, candidate)))
        results = values.select(checks).row(0, named=True) if checks else {}
        full = [
            (name, c)
            for name in values.columns
            for c in self._candidates[name]
            if c.type == DATETIME and not results.get(_key(name, c), False)
        ]
        if full:
            results.update(self._observe_datetimes(values, full))
        for name in values.columns:
            self._candidates[name] = [c for c in self._candidates[name] if results.get(_key(name, c), True)]

    def _observe_datetimes(self, values: pl.DataFrame, candidates: list[tuple[str, ColumnType]]) -> dict[str, bool]:
        """Whether every value reads with one of the candidate's patterns; notes which patterns were used."""
        patterns = {(name, c): datetime_patterns(c.format or DATE_FORMATS[0]) for name, c in candidates}
        checks: list[pl.Expr] = []
        for (name, candidate), tried in patterns.items():
            value, key = pl.col(name), _key(name, candidate)
            parsed = [p.parse(value).is_not_null() for p in tried]
            checks.append(_all(value, pl.any_horizontal(parsed)).alias(key))
            checks += [ok.any().alias(f"{key}\0{i}") for i, ok in enumerate(parsed)]
        results = values.select(checks).row(0, named=True)
        for (name, candidate), tried in patterns.items():
            key = _key(name, candidate)
            self._used.setdefault((name, candidate), set()).update(
                p for i, p in enumerate(tried) if results[f"{key}\0{i}"]
            )
        return {_key(name, c): bool(results[_key(name, c)]) for name, c in candidates}

    def _alive(self, name: str, *types: str) -> bool:
        return any(c.type in types for c in self._candidates[name])

    def result(self) -> dict[str, ColumnType]:
        """Each column's type: the first surviving candidate, or string (also for a column of nulls)."""
        return {name: self._type_of(name) for name in self._candidates}

    def _type_of(self, name: str) -> ColumnType:
        candidates = self._candidates[name]
        if not (self._seen[name] and candidates):
            return STRING_TYPE
        chosen = candidates[0]
        if chosen.type == DATETIME and (used := self._used.get((name, chosen))):
            order = datetime_patterns(chosen.format or DATE_FORMATS[0])
            return replace(chosen, patterns=tuple(p for p in order if p in used))
        return chosen


def infer_types(batch: pl.DataFrame, candidates: Sequence[ColumnType] = TEXT_CANDIDATES) -> dict[str, ColumnType]:
    """The types of one frame of string columns (a sample)."""
    inference = TypeInference(batch.columns, candidates)
    inference.observe(batch)
    return inference.result()


def fits(value: str, column_type: ColumnType) -> bool:
    """Whether one text value reads as ``column_type``."""
    if column_type.type == STRING:
        return True
    parsed = pl.select(_parse(_clean_literal(value), column_type)).item()
    return parsed is not None


def convert(name: str, column_type: ColumnType) -> pl.Expr:
    """The storable values of text column ``name`` read as ``column_type``."""
    if column_type.type == STRING:
        return pl.col(name)
    value = _clean(name)
    parsed = _parse(value, column_type)
    if column_type.type == FLOAT:
        parsed = _finite(parsed)
    elif column_type.type == DATE:
        parsed = parsed.dt.strftime("%Y-%m-%d")
    return parsed.alias(name)


def convert_all(types: dict[str, ColumnType]) -> list[pl.Expr]:
    return [convert(name, column_type) for name, column_type in types.items()]


# -- native (already typed) columns, as JSON readers produce ------------------------


# Integers MongoDB cannot store (it holds 64-bit signed integers at most): kept exactly, as text.
_WIDE_INTEGERS = (pl.UInt64, pl.Int128, pl.UInt128) if hasattr(pl, "UInt128") else (pl.UInt64, pl.Int128)


def type_of_dtype(dtype: pl.DataType) -> str:
    """The Ferry type of a column polars has already typed."""
    if dtype in _WIDE_INTEGERS:
        return STRING
    if dtype.is_integer():
        return INTEGER
    if dtype.is_float() or dtype.is_decimal():
        return FLOAT
    if dtype == pl.Boolean:
        return BOOLEAN
    if dtype == pl.Date:
        return DATE
    if isinstance(dtype, pl.Datetime):
        return DATETIME
    return STRING


def storable(name: str, dtype: pl.DataType) -> pl.Expr:
    """Column ``name`` of ``dtype`` as values MongoDB and JSON accept unchanged."""
    column = pl.col(name)
    if dtype in _WIDE_INTEGERS:
        return column.cast(pl.String)
    if dtype.is_integer() or dtype == pl.Boolean or dtype == pl.String:
        return column
    if dtype.is_float() or dtype.is_decimal():
        return _finite(column.cast(pl.Float64))
    if dtype == pl.Date:
        return column.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return _iso_datetime(column, aware=dtype.time_zone is not None).alias(name)
    if isinstance(dtype, pl.Struct | pl.List | pl.Array):
        return _json_text(column).alias(name)
    return column.cast(pl.String, strict=False)


def storable_all(schema: Iterable[tuple[str, pl.DataType]]) -> list[pl.Expr]:
    return [storable(name, dtype) for name, dtype in schema]


# -- the expressions behind both inference and conversion ---------------------------


def misfits(name: str, column_type: ColumnType) -> pl.Expr:
    """Whether some value present in text column ``name`` does not read as ``column_type``."""
    value = _clean(name)
    return (value.is_not_null() & _parse(value, column_type).is_null()).any()


def _clean(name: str) -> pl.Expr:
    """The value with surrounding blanks removed; a blank value or a null marker is missing."""
    value = pl.col(name).str.strip_chars()
    return pl.when((value != "") & ~value.is_in(NULL_MARKERS)).then(value)


def _clean_literal(value: str) -> pl.Expr:
    stripped = value.strip()
    missing = not stripped or stripped in NULL_MARKERS
    return pl.lit(None if missing else stripped, dtype=pl.String)


def _all(value: pl.Expr, ok: pl.Expr) -> pl.Expr:
    """Every present value passes ``ok``."""
    return (value.is_null() | ok.fill_null(False)).all()


def _key(name: str, candidate: ColumnType) -> str:
    return f"{name}\0{candidate.type}\0{candidate.format}"


def _parse(value: pl.Expr, candidate: ColumnType) -> pl.Expr:
    kind = candidate.type
    if kind == BOOLEAN:
        lowered = value.str.to_lowercase()
        return pl.when(lowered == _TRUE).then(True).when(lowered == _FALSE).then(False)
    if kind == INTEGER:
        return pl.when(~value.str.contains(_LEADING_ZERO)).then(value.str.to_integer(strict=False))
    if kind == FLOAT:
        text = value.str.replace(",", ".", literal=True) if candidate.format == "," else value
        if candidate.format == ",":
            text = pl.when(~value.str.contains(".", literal=True)).then(text)
        return pl.when(~value.str.contains(_LEADING_ZERO)).then(text.cast(pl.Float64, strict=False))
    if kind == DATE:
        return value.str.strptime(pl.Date, candidate.format, strict=False)
    if kind == DATETIME:
        patterns = candidate.patterns or datetime_patterns(candidate.format or DATE_FORMATS[0])
        return _parse_datetime(value, patterns)
    raise ValueError(f"no parser for {candidate}")


def _parse_datetime(value: pl.Expr, patterns: Sequence[DatetimePattern]) -> pl.Expr:
    """ISO text of the pattern that reads the value (aware ones in UTC), formatted once per kind."""
    aware = [p.parse(value) for p in patterns if p.aware]
    naive = [p.parse(value) for p in patterns if not p.aware]
    texts = [_iso_datetime(pl.coalesce(found), aware=kind) for kind, found in ((True, aware), (False, naive)) if found]
    return pl.coalesce(texts) if len(texts) > 1 else texts[0]


def _iso_datetime(value: pl.Expr, *, aware: bool) -> pl.Expr:
    if aware:
        value = value.dt.convert_time_zone("UTC")
    text = value.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f").str.replace(r"\.000000$", "")
    return pl.concat_str([text, pl.lit("Z")]) if aware else text


def _finite(value: pl.Expr) -> pl.Expr:
    return pl.when(value.is_finite()).then(value)


def _json_text(value: pl.Expr) -> pl.Expr:
    """Nested values (structs, lists) as compact JSON text."""
    wrapped = pl.struct(value.alias("v")).struct.json_encode()
    return pl.when(value.is_not_null()).then(wrapped.str.strip_prefix('{"v":').str.strip_suffix("}"))
