"""Rows of a parsed table → an Excel workbook, written row by row (XlsxWriter's ``constant_memory``).

Excel's limits decide the shape: a sheet holds 1,048,576 rows, the header row
included, so a longer table continues on further sheets (``Sheet1``, ``Sheet1 (2)``,
...), each with the header row again. Cells keep their types: numbers, booleans,
dates and datetimes as Excel dates (datetimes in UTC as their UTC time: Excel has
no time zones), text as text — never as a formula or a link, whatever it starts
with. Integers beyond 2**53, which an Excel number (a double) cannot hold exactly,
and dates before 1900, which Excel cannot show, are written as text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from ferry_core.events import ColumnInfo
from ferry_parser.conversion.values import DATE, DATETIME, ValueMismatch, to_date, to_datetime
from ferry_parser.errors import ParseError

MAX_ROWS = 1_048_576
"""Rows in one Excel sheet, the header row included."""
MAX_COLUMNS = 16_384
_MAX_EXACT = 2**53
_EARLIEST = date(1900, 1, 1)
_EARLIEST_TIME = datetime(1900, 1, 1)
_SHEET_NAME_CHARS = re.compile(r"[\[\]:*?/\\]")
_MAX_SHEET_NAME = 31

Cell = Callable[[Worksheet, int, int, Any], None]


class TooManyColumns(ParseError):
    code = "too_many_columns"


def write_xlsx(
    columns: list[ColumnInfo], batches: Iterator[list[list[Any]]], out: Path, *, sheet: str, max_rows: int = MAX_ROWS
) -> None:
    """Write the table to ``out``; ``max_rows`` per sheet (header included) is Excel's unless a test lowers it."""
    if len(columns) > MAX_COLUMNS:
        raise TooManyColumns(f"An Excel sheet holds at most {MAX_COLUMNS:,} columns; this table has {len(columns):,}.")
    options = {
        "constant_memory": True,
        "strings_to_numbers": False,
        "strings_to_formulas": False,
        "strings_to_urls": False,
    }
    with xlsxwriter.Workbook(str(out), options) as workbook:
        formats = _Formats(
            header=workbook.add_format({"bold": True}),
            date=workbook.add_format({"num_format": "yyyy-mm-dd"}),
            datetime=workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"}),
        )
        names = _sheet_names(sheet)
        worksheet, row = _new_sheet(workbook, next(names), columns, formats), 1
        cells = _cell_writers(columns, formats)
        for batch in batches:
            for values in batch:
                if row == max_rows:
                    worksheet, row = _new_sheet(workbook, next(names), columns, formats), 1
                for index, value in enumerate(values):
                    if value is not None:
                        cells[index](worksheet, row, index, value)
                row += 1


class _Formats:
    def __init__(self, *, header: Format, date: Format, datetime: Format) -> None:
        self.header, self.date, self.datetime = header, date, datetime


def _new_sheet(workbook: xlsxwriter.Workbook, name: str, columns: list[ColumnInfo], formats: _Formats) -> Worksheet:
    worksheet = workbook.add_worksheet(name)
    # constant_memory: widths and the header must be set before any row below them.
    for index, column in enumerate(columns):
        width = 19 if column.type == DATETIME else min(max(len(column.name) + 2, 10), 50)
        worksheet.set_column(index, index, width)
    worksheet.freeze_panes(1, 0)
    for index, column in enumerate(columns):
        worksheet.write_string(0, index, column.name, formats.header)
    return worksheet


def _sheet_names(name: str) -> Iterator[str]:
    """``name`` made valid for Excel, then ``name (2)``, ``name (3)``... for the sheets a long table continues on."""
    base = _SHEET_NAME_CHARS.sub("_", name).strip("'").strip() or "Sheet1"
    yield base[:_MAX_SHEET_NAME]
    number = 2
    while True:
        suffix = f" ({number})"
        yield base[: _MAX_SHEET_NAME - len(suffix)] + suffix
        number += 1


def _cell_writers(columns: list[ColumnInfo], formats: _Formats) -> list[Cell]:
    """How each column's values are written, chosen once from its type."""
    writers: list[Cell] = []
    for column in columns:
        if column.type == DATE:
            writers.append(_date_cell(column.name, formats.date))
        elif column.type == DATETIME:
            writers.append(_datetime_cell(column.name, formats.datetime))
        else:
            writers.append(_plain_cell)
    return writers


def _plain_cell(sheet: Worksheet, row: int, col: int, value: Any) -> None:
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif (isinstance(value, int) and -_MAX_EXACT <= value <= _MAX_EXACT) or isinstance(value, float):
        sheet.write_number(row, col, value)
    else:
        sheet.write_string(row, col, str(value))


def _date_cell(name: str, style: Format) -> Cell:
    def write(sheet: Worksheet, row: int, col: int, value: Any) -> None:
        try:
            parsed = to_date(value, name)
        except ValueMismatch:
            parsed = None
        if parsed is None or parsed < _EARLIEST:
            sheet.write_string(row, col, str(value))
        else:
            sheet.write_datetime(row, col, parsed, style)

    return write


def _datetime_cell(name: str, style: Format) -> Cell:
    # Excel has no time zones: a UTC value is written as its UTC time.
    def write(sheet: Worksheet, row: int, col: int, value: Any) -> None:
        try:
            parsed = to_datetime(value, name, aware=False)
        except ValueMismatch:
            parsed = None
        if parsed is None or parsed < _EARLIEST_TIME:
            sheet.write_string(row, col, str(value))
        else:
            sheet.write_datetime(row, col, parsed, style)

    return write
