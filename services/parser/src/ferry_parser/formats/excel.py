"""Workbooks (``xlsx``, ``xlsm``, ``xlsb``, ``xls``, ``ods``), read with fastexcel: one table per sheet.

A zip-based workbook passes ``zipguard`` before fastexcel opens it, and the
workbook's real kind is told by its content, not by the name it came with.

fastexcel loads a whole sheet at a time, and each sheet is loaded twice: as text
(every value as the workbook shows it, and where the header is: the first row
holding a value) and with its native types (exact numbers, date-times,
durations). A column keeps its native type when that type holds every one of
its values; otherwise its text is typed the way a CSV column is, so
``1, 2, N/A`` is an integer column with a null and ``1, 2, abc`` a string one.

Workbooks have no integer or date type of their own: whole numbers are
``integer``, date-times all at midnight are ``date``, date-times on day zero are
times of day and durations are ``HH:MM:SS`` strings (``36:00:00`` for a day and a half).
Rows without a value, and columns with neither a name nor a value, are left out.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import fastexcel
import polars as pl

from ferry_core.events import ColumnInfo
from ferry_parser.errors import CorruptFile, EmptyFile, ParseError, PasswordProtected
from ferry_parser.formats import zipguard
from ferry_parser.formats.base import Item, ReadOptions, TableHeader
from ferry_parser.formats.dialect import column_names
from ferry_parser.formats.inference import (
    DATE,
    DATETIME,
    FLOAT,
    INTEGER,
    STRING,
    TEXT_CANDIDATES,
    ColumnType,
    TypeInference,
    convert,
    storable,
    type_of_dtype,
)

INFER_BATCH_ROWS = 50_000
# A comma in a workbook's text is not a decimal separator: numbers are stored as numbers.
_TEXT_CANDIDATES = tuple(c for c in TEXT_CANDIDATES if c != ColumnType(FLOAT, ","))
_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")  # the stream of a password-protected xlsx
_DAY_ZERO = [date(1899, 12, 30), date(1899, 12, 31)]  # where a time of day without a date lands
_MAX_EXACT_INTEGER = 2**53
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2} 00:00:00$")
_DAMAGED = "The workbook is damaged or truncated"
_PROTECTED = "The workbook is protected by a password; remove the password and upload it again."


def read_excel(path: Path, options: ReadOptions) -> Iterator[Item]:
    workbook = _open(_source(path, options))
    names = list(workbook.sheet_names)
    if not names:
        raise EmptyFile("The workbook has no sheets.")
    metadata = {"sheet_count": len(names), "sheet_names": names}
    filled = 0
    for index, name in enumerate(names):
        sheet = _read_sheet(workbook, index, name)
        filled += bool(sheet.columns)
        yield TableHeader(
            columns=sheet.columns,
            part=name,
            rows_total=sheet.rows.height,
            metadata=dict(metadata),
            warnings=sheet.warnings,
        )
        for offset in range(0, sheet.rows.height, options.batch_rows):
            yield sheet.rows.slice(offset, options.batch_rows).select(sheet.conversions)
    if not filled:
        raise EmptyFile("The workbook has no values in any of its sheets.")


# -- opening: the guard, the real kind, fastexcel's errors as the file's ----------------


def _source(path: Path, options: ReadOptions) -> Path:
    """``path`` under a name whose extension is the workbook's real kind (fastexcel picks its parser by it)."""
    with path.open("rb") as file:
        head = file.read(len(_OLE2_MAGIC))
    if not head:
        raise EmptyFile("The file is empty.")
    if head.startswith(_ZIP_MAGIC):
        limits = zipguard.ZipLimits(
            max_uncompressed_bytes=options.max_uncompressed_bytes, max_ratio=options.max_compression_ratio
        )
        kind = _zip_kind(zipguard.check_zip(path, limits, what="workbook"))
    elif head.startswith(_OLE2_MAGIC):
        kind = "xls"
    else:
        raise CorruptFile(
            f"{_DAMAGED}: it is neither a zip archive (xlsx, xlsm, xlsb, ods) nor a legacy Excel file (xls)."
        )
    source = options.workdir / f"workbook.{kind}"
    source.unlink(missing_ok=True)
    try:
        os.link(path, source)
    except OSError:
        shutil.copyfile(path, source)
    return source


def _zip_kind(members: list[str]) -> str:
    names = set(members)
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "content.xml" in names:
        return "ods"
    raise CorruptFile(
        f"{_DAMAGED}: the zip archive holds no workbook (no xl/workbook.xml, xl/workbook.bin or content.xml)."
    )


def _open(source: Path) -> fastexcel.ExcelReader:
    try:
        with _as_parse_errors("it"):
            return fastexcel.read_excel(source)
    except CorruptFile:
        if source.suffix == ".xls" and _holds(source, _ENCRYPTED_PACKAGE):
            raise PasswordProtected(_PROTECTED) from None
        raise


@contextmanager
def _as_parse_errors(subject: str) -> Iterator[None]:
    """fastexcel's (and calamine's) failures as ``ParseError``s, whatever their class."""
    try:
        yield
    except fastexcel.FastExcelError as exc:
        detail = _first_line(exc).removeprefix("calamine error: ")
        if "password" in detail.lower():
            raise PasswordProtected(_PROTECTED) from exc
        if isinstance(exc, fastexcel.CalamineError | fastexcel.CalamineCellError | fastexcel.ArrowError):
            raise CorruptFile(f"{_DAMAGED}: {subject} cannot be read ({detail}).") from exc
        raise ParseError(f"The workbook could not be read: {subject} ({detail}).") from exc
    except pl.exceptions.PolarsError as exc:
        raise ParseError(f"The workbook could not be read: {subject} ({_first_line(exc)}).") from exc
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":  # a Rust panic; the class is private to each extension
            raise
        raise CorruptFile(f"{_DAMAGED}: reading {subject} failed.") from exc


def _holds(path: Path, marker: bytes) -> bool:
    overlap = len(marker) - 1
    tail = b""
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            if marker in tail + block:
                return True
            tail = block[-overlap:]
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# -- one sheet ---------------------------------------------------------------------


@dataclass
class _Sheet:
    columns: list[ColumnInfo] = field(default_factory=list)
    rows: pl.DataFrame = field(default_factory=pl.DataFrame)
    """The body, one column per entry of ``columns``, values as loaded."""
    conversions: list[pl.Expr] = field(default_factory=list)
    """``rows`` → storable values."""
    warnings: list[str] = field(default_factory=list)


def _read_sheet(workbook: fastexcel.ExcelReader, index: int, name: str) -> _Sheet:
    text = _load(workbook, index, name, skip_rows=0, dtypes="string")
    if text.width == 0:
        return _Sheet(warnings=[f"Sheet {name!r} is empty."])
    has_value = text.select(pl.any_horizontal(pl.all().is_not_null())).to_series()
    filled = has_value.arg_true()
    if filled.len() == 0:
        return _Sheet(warnings=[f"Sheet {name!r} is empty."])
    head = int(filled[0])
    header = text.row(head)
    in_body = has_value.slice(head + 1)
    body = text.slice(head + 1).filter(in_body)
    typed = None
    if body.height:
        typed = _load(workbook, index, name, skip_rows=head + 1)
        typed = typed.filter(in_body) if typed.shape == (in_body.len(), text.width) else None
    keep = [i for i in range(text.width) if header[i] is not None or body.to_series(i).null_count() < body.height]
    names, warnings = column_names([_header_text(header[i]) for i in keep], has_header=True)
    series = []
    for column_name, i in zip(names, keep, strict=True):
        raw = body.to_series(i)
        native = typed.to_series(i) if typed is not None else None
        chosen = native if native is not None and _faithful(native, raw) else raw
        series.append((chosen.cast(pl.String) if chosen.dtype == pl.Null else chosen).alias(column_name))
    rows = pl.DataFrame(series)
    types, conversions = _plan(rows)
    return _Sheet(
        columns=[ColumnInfo(name=n, type=t) for n, t in zip(rows.columns, types, strict=True)],
        rows=rows,
        conversions=conversions,
        warnings=[f"Sheet {name!r}: {warning}" for warning in warnings],
    )


def _faithful(native: pl.Series, text: pl.Series) -> bool:
    """Whether a natively typed column holds every value its text shows, as the same kind of value.

    fastexcel makes one type of a mixed column by turning what does not fit into
    null (``N/A`` in a number column) or into the type (``TRUE`` into ``1.0``).
    """
    if native.dtype in (pl.String, pl.Null) or (text.is_not_null() & native.is_null()).any():
        return False
    shown = text.filter(native.is_not_null() & text.is_not_null())
    if native.dtype.is_numeric():
        return shown.cast(pl.Float64, strict=False).null_count() == 0
    if native.dtype == pl.Boolean:
        return bool(shown.is_in(["true", "false"]).all())
    if isinstance(native.dtype, pl.Datetime | pl.Date):
        return bool(shown.str.contains(r"^\d{4}-\d{2}-\d{2}").all())
    return True  # durations: their text is not reliable (a date on day zero, or nothing at all)


def _header_text(value: str | None) -> str:
    """A header cell as a name: a date header shown without its midnight time."""
    text = value or ""
    return text.removesuffix(" 00:00:00") if _DATE_TEXT.match(text) else text


def _load(
    workbook: fastexcel.ExcelReader, index: int, name: str, *, skip_rows: int, dtypes: fastexcel.DType | None = None
) -> pl.DataFrame:
    """A sheet from row ``skip_rows`` on, without a header (columns ``__UNNAMED__<i>``), blank cells as null.

    Types are chosen from every value (not a sample); ``dtypes="string"`` reads every cell as text.
    """
    with _as_parse_errors(f"sheet {name!r}"):
        sheet = workbook.load_sheet(
            index,
            header_row=None,
            skip_rows=skip_rows,
            schema_sample_rows=None,
            dtypes=dtypes,
            whitespace_as_null=True,
        )
        return sheet.to_polars()


# -- types -------------------------------------------------------------------------


def _plan(rows: pl.DataFrame) -> tuple[list[str], list[pl.Expr]]:
    """Each column's Ferry type and the expression making its values storable."""
    texts = [name for name, dtype in rows.schema.items() if dtype == pl.String]
    inference = TypeInference(texts, _TEXT_CANDIDATES)
    if texts:
        for batch in rows.select(texts).iter_slices(INFER_BATCH_ROWS):
            inference.observe(batch)
    text_types = inference.result()
    types, conversions = [], []
    for series in rows.iter_columns():
        if series.name in text_types:
            kind, expr = _text_plan(series, text_types[series.name])
        else:
            kind, expr = _native_plan(series)
        types.append(kind)
        conversions.append(expr.alias(series.name))
    return types, conversions


def _text_plan(series: pl.Series, column_type: ColumnType) -> tuple[str, pl.Expr]:
    expr = convert(series.name, column_type)
    if column_type.type == DATETIME:
        values = series.to_frame().select(expr).to_series()
        if values.str.ends_with("T00:00:00").all():
            return DATE, expr.str.slice(0, 10)
    return column_type.type, expr


def _native_plan(series: pl.Series) -> tuple[str, pl.Expr]:
    name, dtype = series.name, series.dtype
    column = pl.col(name)
    values = series.drop_nulls()
    if values.is_empty():
        return STRING, column.cast(pl.String)
    if dtype.is_float() and _whole(values):
        return INTEGER, column.cast(pl.Int64)
    if isinstance(dtype, pl.Datetime):
        if values.dt.date().is_in(_DAY_ZERO).all():
            return STRING, column.dt.strftime("%H:%M:%S%.3f").str.strip_suffix(".000")
        if (values.dt.truncate("1d") == values).all():
            return DATE, column.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Duration):
        return STRING, _duration_text(column)
    return type_of_dtype(dtype), storable(name, dtype)


def _whole(values: pl.Series) -> bool:
    return bool(((values == values.floor()) & (values.abs() < _MAX_EXACT_INTEGER)).all())


def _duration_text(column: pl.Expr) -> pl.Expr:
    """``HH:MM:SS`` (hours past 24 as they are, milliseconds when there are any), like Excel's ``[h]:mm:ss``."""
    millis = column.dt.total_milliseconds()
    size = millis.abs()

    def two(value: pl.Expr) -> pl.Expr:
        return value.cast(pl.String).str.zfill(2)

    fraction = pl.when(size % 1000 != 0).then(pl.lit(".") + (size % 1000).cast(pl.String).str.zfill(3))
    return pl.concat_str(
        [
            pl.when(millis < 0).then(pl.lit("-")).otherwise(pl.lit("")),
            two(size // 3_600_000),
            pl.lit(":"),
            two(size // 60_000 % 60),
            pl.lit(":"),
            two(size // 1000 % 60),
            fraction.otherwise(pl.lit("")),
        ]
    )
