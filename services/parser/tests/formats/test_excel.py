"""Workbooks of every kind, built here byte by byte (no spreadsheet writer is installed), read sheet by sheet.

The builders write the smallest files Excel and LibreOffice would also open:
xlsx/xlsm (zip of XML, shared strings, number formats for dates, times and
durations), ods (zip of XML), xls (BIFF8 records in an OLE2 compound file) and
xlsb (BIFF12 records in a zip).
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import fastexcel
import polars as pl
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import FileParsed
from ferry_core.infra import Document, Infrastructure
from ferry_core.readmodels import ParsedReadModel
from ferry_parser.errors import CorruptFile, EmptyFile, ParseError, PasswordProtected, ZipBomb
from ferry_parser.formats import READERS, ReadOptions, TableHeader
from ferry_parser.formats.excel import read_excel
from ferry_parser.pipeline import FileParser
from ferry_parser.settings import ParserSettings

from ..conftest import Recorder, Upload

Rows = list[list[Any] | None]
Sheets = list[tuple[str, Rows]]


@dataclass(frozen=True)
class Err:
    """An error cell (``#DIV/0!``, ``#N/A``)."""

    text: str


# -- builders -------------------------------------------------------------------------

_EPOCH = datetime(1899, 12, 30)
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_DATE_STYLE, _DATETIME_STYLE, _DURATION_STYLE, _TIME_STYLE = 1, 2, 3, 4


def serial(value: date | datetime | time | timedelta) -> float:
    """Excel's day number: days since 1899-12-30, the time of day as a fraction."""
    if isinstance(value, timedelta):
        return value / timedelta(days=1)
    if isinstance(value, time):
        return (value.hour * 3600 + value.minute * 60 + value.second) / 86400
    moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
    return (moment - _EPOCH) / timedelta(days=1)


def style_of(value: Any) -> int:
    if isinstance(value, datetime):
        return _DATETIME_STYLE
    if isinstance(value, date):
        return _DATE_STYLE
    if isinstance(value, timedelta):
        return _DURATION_STYLE
    return _TIME_STYLE


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def zipped(members: Mapping[str, bytes | str], *, stored: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buffer.getvalue()


_XLSX_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{_MAIN}">
<numFmts count="1"><numFmt numFmtId="164" formatCode="[h]:mm:ss"/></numFmts>
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="1"><fill><patternFill patternType="none"/></fill></fills>
<borders count="1"><border/></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="5">
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="21" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
</cellXfs>
</styleSheet>"""


def xlsx(sheets: Sheets) -> bytes:
    """An xlsx (the same bytes serve as an xlsm) with shared strings and styled dates, times and durations."""
    strings: list[str] = []

    def cell(ref: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, Err):
            return f'<c r="{ref}" t="e"><v>{value.text}</v></c>'
        if isinstance(value, bool):
            return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
        if isinstance(value, int | float):
            return f'<c r="{ref}"><v>{value!r}</v></c>'
        if isinstance(value, str):
            if value not in strings:
                strings.append(value)
            return f'<c r="{ref}" t="s"><v>{strings.index(value)}</v></c>'
        return f'<c r="{ref}" s="{style_of(value)}"><v>{serial(value)!r}</v></c>'

    def worksheet(rows: Rows) -> str:
        lines = []
        for number, row in enumerate(rows, start=1):
            if row is not None:
                cells = "".join(cell(f"{column_letter(i)}{number}", v) for i, v in enumerate(row))
                lines.append(f'<row r="{number}">{cells}</row>')
        data = "".join(lines)
        return f'<?xml version="1.0"?><worksheet xmlns="{_MAIN}"><sheetData>{data}</sheetData></worksheet>'

    parts = {f"xl/worksheets/sheet{i}.xml": worksheet(rows) for i, (_, rows) in enumerate(sheets, start=1)}
    shared = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in strings)
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    sheet_list = "".join(
        f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>' for i, (name, _) in enumerate(sheets, start=1)
    )
    relations = "".join(
        f'<Relationship Id="rId{i}" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, len(sheets) + 1)
    )
    count = len(sheets)
    return zipped(
        {
            "[Content_Types].xml": (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                f'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" '
                'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                f"{overrides}</Types>"
            ),
            "_rels/.rels": (
                f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS}">'
                f'<Relationship Id="rId1" Type="{_DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ),
            "xl/workbook.xml": (
                f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{_MAIN}" xmlns:r="{_DOC_RELS}">'
                f"<sheets>{sheet_list}</sheets></workbook>"
            ),
            "xl/_rels/workbook.xml.rels": (
                f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{_RELS}">{relations}'
                f'<Relationship Id="rId{count + 1}" Type="{_DOC_RELS}/styles" Target="styles.xml"/>'
                f'<Relationship Id="rId{count + 2}" Type="{_DOC_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
                "</Relationships>"
            ),
            "xl/styles.xml": _XLSX_STYLES,
            **parts,
            "xl/sharedStrings.xml": (
                f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{_MAIN}" count="{len(strings)}" '
                f'uniqueCount="{len(strings)}">{shared}</sst>'
            ),
        }
    )


def ods(sheets: Sheets) -> bytes:
    """An OpenDocument spreadsheet: ``mimetype`` first and stored, then the content."""

    def cell(value: Any) -> str:
        if value is None:
            return "<table:table-cell/>"
        if isinstance(value, bool):
            kind, attrs = "boolean", f'office:boolean-value="{str(value).lower()}"'
        elif isinstance(value, int | float):
            kind, attrs = "float", f'office:value="{value!r}"'
        elif isinstance(value, str):
            kind, attrs = "string", ""
        elif isinstance(value, date):
            kind, attrs = "date", f'office:date-value="{value.isoformat()}"'
        else:
            seconds = int(serial(value) * 86400)
            kind, attrs = (
                "time",
                f'office:time-value="PT{seconds // 3600:02d}H{seconds // 60 % 60:02d}M{seconds % 60:02d}S"',
            )
        shown = f"<text:p>{escape(str(value))}</text:p>"
        return f'<table:table-cell office:value-type="{kind}" {attrs}>{shown}</table:table-cell>'

    tables = "".join(
        f'<table:table table:name="{escape(name)}">'
        + "".join("<table:table-row>" + "".join(map(cell, row or [])) + "</table:table-row>" for row in rows)
        + "</table:table>"
        for name, rows in sheets
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f"<office:body><office:spreadsheet>{tables}</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>'
    )
    return zipped(
        {
            "mimetype": "application/vnd.oasis.opendocument.spreadsheet",
            "META-INF/manifest.xml": manifest,
            "content.xml": content,
        },
        stored=("mimetype",),
    )


def biff(rtype: int, data: bytes = b"") -> bytes:
    return struct.pack("<HH", rtype, len(data)) + data


def xls(sheets: Sheets) -> bytes:
    """A BIFF8 workbook stream (globals with XF styles, SST and sheet index; one substream per sheet) in OLE2."""
    strings: list[str] = []
    xf_of = {_DATE_STYLE: 1, _DATETIME_STYLE: 2}

    def cell(row: int, col: int, value: Any) -> bytes:
        if isinstance(value, Err):
            return biff(0x0205, struct.pack("<HHHBB", row, col, 0, 0x07, 1))  # BOOLERR: #DIV/0!
        if isinstance(value, bool):
            return biff(0x0205, struct.pack("<HHHBB", row, col, 0, int(value), 0))
        if isinstance(value, int | float):
            return biff(0x0203, struct.pack("<HHHd", row, col, 0, float(value)))  # NUMBER
        if isinstance(value, str):
            if value not in strings:
                strings.append(value)
            return biff(0x00FD, struct.pack("<HHHI", row, col, 0, strings.index(value)))  # LABELSST
        return biff(0x0203, struct.pack("<HHHd", row, col, xf_of[style_of(value)], serial(value)))

    def bof(kind: int) -> bytes:
        return biff(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x06))

    substreams = []
    for _, rows in sheets:
        width = max((len(r) for r in rows if r), default=0)
        cells = [cell(r, c, v) for r, row in enumerate(rows) for c, v in enumerate(row or []) if v is not None]
        dimensions = biff(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, width, 0))
        substreams.append(bof(0x0010) + dimensions + b"".join(cells) + biff(0x000A))

    def xf(number_format: int) -> bytes:
        return biff(0x00E0, struct.pack("<HHHBBBBIIH", 0, number_format, 0x0001, 0x20, 0, 0, 0, 0, 0, 0x20C0))

    def index(offsets: list[int]) -> bytes:
        return b"".join(
            biff(0x0085, struct.pack("<IBBBB", offset, 0, 0, len(name), 1) + name.encode("utf-16-le"))
            for offset, (name, _) in zip(offsets, sheets, strict=True)
        )

    head = bof(0x0005) + biff(0x0042, struct.pack("<H", 1200)) + biff(0x0022, b"\0\0") + xf(0) + xf(14) + xf(22)
    sst = struct.pack("<II", len(strings), len(strings)) + b"".join(
        struct.pack("<HB", len(s), 1) + s.encode("utf-16-le") for s in strings
    )
    tail = biff(0x00FC, sst) + biff(0x000A)
    offsets, position = [], len(head) + len(index([0] * len(sheets))) + len(tail)
    for substream in substreams:
        offsets.append(position)
        position += len(substream)
    stream = head + index(offsets) + tail + b"".join(substreams)
    return compound_file("Workbook", stream.ljust(4096, b"\0"))  # 4 KiB at least: a regular stream, no mini stream


def compound_file(stream_name: str, data: bytes) -> bytes:
    """An OLE2 compound file (version 3, 512-byte sectors) holding one stream: FAT, directory, then data."""
    end, free, fat_sector, no_stream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    sectors = (len(data) + 511) // 512
    fat = [fat_sector, end, *range(3, 2 + sectors), end]
    fat += [free] * (128 - len(fat))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<9I", 0, 1, 1, 0, 0x1000, end, 0, end, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", free) * 108
    )

    def entry(name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le") if name else b""
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", no_stream, no_stream, child)
            + b"\0" * 36
            + struct.pack("<IQ", start, size)
        )

    directory = (
        entry("Root Entry", 5, 1, end, 0)
        + entry(stream_name, 2, no_stream, 2, len(data))
        + entry("", 0, no_stream, 0, 0) * 2
    )
    return header + struct.pack("<128I", *fat) + directory + data.ljust(sectors * 512, b"\0")


def brt(rtype: int, data: bytes = b"") -> bytes:
    """A BIFF12 record: type and size as 7-bit variable-length integers, then the data."""
    kind = bytes([rtype]) if rtype < 0x80 else bytes([(rtype & 0x7F) | 0x80, rtype >> 7])
    size, left = b"", len(data)
    while True:
        low, left = left & 0x7F, left >> 7
        size += bytes([low | (0x80 if left else 0)])
        if not left:
            return kind + size + data


def wide(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def xlsb(sheets: Sheets) -> bytes:
    """An xlsb: workbook.bin (sheet index), styles.bin (cell formats for dates) and one .bin per sheet."""
    xf_of = {_DATE_STYLE: 1, _DATETIME_STYLE: 2}

    def cell(col: int, value: Any) -> bytes:
        if isinstance(value, Err):
            return brt(0x0003, struct.pack("<IIB", col, 0, 0x07))
        if isinstance(value, bool):
            return brt(0x0004, struct.pack("<IIB", col, 0, int(value)))
        if isinstance(value, int | float):
            return brt(0x0005, struct.pack("<IId", col, 0, float(value)))
        if isinstance(value, str):
            return brt(0x0006, struct.pack("<II", col, 0) + wide(value))
        return brt(0x0005, struct.pack("<IId", col, xf_of[style_of(value)], serial(value)))

    def worksheet(rows: Rows) -> bytes:
        records = [brt(0x0081), brt(0x0094, struct.pack("<IIII", 0, max(len(rows) - 1, 0), 0, 0)), brt(0x0091)]
        for number, row in enumerate(rows):
            if row:
                records.append(brt(0x0000, struct.pack("<I", number) + b"\0" * 13))
                records += [cell(col, value) for col, value in enumerate(row) if value is not None]
        return b"".join([*records, brt(0x0092)])

    def xf(number_format: int) -> bytes:
        return brt(0x002F, struct.pack("<HH", 0, number_format) + b"\0" * 12)

    bundles = b"".join(
        brt(0x009C, struct.pack("<II", 0, i) + wide(f"rId{i}") + wide(name))
        for i, (name, _) in enumerate(sheets, start=1)
    )
    relations = "".join(
        f'<Relationship Id="rId{i}" Type="{_DOC_RELS}/worksheet" Target="worksheets/sheet{i}.bin"/>'
        for i in range(1, len(sheets) + 1)
    )
    return zipped(
        {
            "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
            "xl/_rels/workbook.bin.rels": f'<Relationships xmlns="{_RELS}">{relations}</Relationships>',
            "xl/styles.bin": brt(0x0269, struct.pack("<I", 3)) + xf(0) + xf(14) + xf(22),
            "xl/workbook.bin": bundles + brt(0x0090) + brt(0x009D, b"\0" * 8),
            **{f"xl/worksheets/sheet{i}.bin": worksheet(rows) for i, (_, rows) in enumerate(sheets, start=1)},
        }
    )


BUILDERS: dict[str, Callable[[Sheets], bytes]] = {"xlsx": xlsx, "xlsm": xlsx, "ods": ods, "xls": xls, "xlsb": xlsb}


# -- reading ----------------------------------------------------------------------------


@dataclass
class Sheet:
    header: TableHeader
    rows: list[list[Any]] = field(default_factory=list)
    batches: int = 0

    @property
    def types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.header.columns}


def read(tmp_path: Path, data: bytes, fmt: str, *, batch_rows: int = 20_000) -> dict[str, Sheet]:
    """Every sheet the reader yields, by name, with its rows (checked to be storable and in header order)."""
    path = tmp_path / "original"  # as the pipeline stores it: no extension
    path.write_bytes(data)
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    sheets: dict[str, Sheet] = {}
    current: Sheet | None = None
    for item in READERS[fmt](path, ReadOptions(format=fmt, workdir=workdir, batch_rows=batch_rows)):
        if isinstance(item, TableHeader):
            current = sheets[item.part] = Sheet(item)
        else:
            assert isinstance(item, pl.DataFrame)
            assert current is not None
            assert item.columns == [c.name for c in current.header.columns]
            assert all(dtype in (pl.String, pl.Int64, pl.Float64, pl.Boolean, pl.Null) for dtype in item.dtypes)
            current.rows += [list(row) for row in item.rows()]
            current.batches += 1
    return sheets


def failure(tmp_path: Path, data: bytes, fmt: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        read(tmp_path, data, fmt)
    return caught.value


PEOPLE: Rows = [
    ["id", "name", "born", "joined", "score", "active"],
    [1, "Ada", date(1985, 12, 10), datetime(2024, 1, 2, 9, 30), 9.5, True],
    [2, "Grace", date(1906, 12, 9), datetime(2024, 2, 3, 17, 0, 15), 8, False],
    [3, "Émile", None, datetime(2024, 3, 4), 7.25, None],
]
PEOPLE_TYPES = {
    "id": "integer",
    "name": "string",
    "born": "date",
    "joined": "datetime",
    "score": "float",
    "active": "boolean",
}
PEOPLE_VALUES = [
    [1, "Ada", "1985-12-10", "2024-01-02T09:30:00", 9.5, True],
    [2, "Grace", "1906-12-09", "2024-02-03T17:00:15", 8.0, False],
    [3, "Émile", None, "2024-03-04T00:00:00", 7.25, None],
]


# -- every kind of workbook ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["xlsx", "xlsm", "xls", "xlsb"])
def test_sheets_become_parts_with_types_and_storable_values(tmp_path: Path, fmt: str) -> None:
    data = BUILDERS[fmt]([("People", PEOPLE), ("Totals", [["year", "total"], [2024, 1234.5], [2025, 99]])])

    sheets = read(tmp_path, data, fmt)

    assert list(sheets) == ["People", "Totals"]
    people, totals = sheets["People"], sheets["Totals"]
    assert people.types == PEOPLE_TYPES
    assert people.rows == PEOPLE_VALUES
    assert people.header.rows_total == 3
    assert totals.types == {"year": "integer", "total": "float"}
    assert totals.rows == [[2024, 1234.5], [2025, 99.0]]
    for sheet in sheets.values():
        assert sheet.header.metadata == {"sheet_count": 2, "sheet_names": ["People", "Totals"]}
        assert sheet.header.warnings == []


REAL_WORKBOOKS = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "formats"


@pytest.mark.parametrize("fmt", ["xlsx", "xlsm", "xls", "ods"])
def test_workbooks_written_by_libreoffice(tmp_path: Path, fmt: str) -> None:
    """The repository's fixtures, converted by LibreOffice (see tests/fixtures/formats/README.md)."""
    sheets = read(tmp_path, (REAL_WORKBOOKS / f"workbook.{fmt}").read_bytes(), fmt)

    assert sheets["People"].types == {"id": "integer", "name": "string", "score": "float", "joined": "date"}
    assert sheets["People"].rows == [
        [1, "Zoë", 9.5, "2024-01-02"],
        [2, "Łukasz", 7.25, "2023-12-31"],
        [3, "Ana", 8.0, "2022-06-15"],
    ]
    assert sheets["Stock"].types == {"sku": "string", "qty": "integer"}
    assert sheets["Stock"].rows == [["A-1", 5], ["B-2", 12]]


def test_ods_dates_times_and_numbers(tmp_path: Path) -> None:
    rows: Rows = [
        ["id", "day", "at", "ok", "note"],
        [1, date(2024, 1, 2), time(6, 30), True, "x"],
        [2.5, date(2024, 1, 3), time(18, 0, 5), False, None],
    ]
    sheets = read(tmp_path, ods([("Data", rows), ("More", [["a"], [1], [2]])]), "ods")

    data = sheets["Data"]
    assert data.types == {"id": "float", "day": "date", "at": "string", "ok": "boolean", "note": "string"}
    assert data.rows == [[1.0, "2024-01-02", "06:30:00", True, "x"], [2.5, "2024-01-03", "18:00:05", False, None]]
    assert sheets["More"].types == {"a": "integer"}
    assert sheets["More"].rows == [[1], [2]]
    assert data.header.metadata == {"sheet_count": 2, "sheet_names": ["Data", "More"]}


def test_the_content_decides_the_kind_not_the_claimed_format(tmp_path: Path) -> None:
    """The gateway tells xlsb from xlsx by the file's name only; the bytes win."""
    sheets = read(tmp_path, xlsb([("S", [["a"], [1]])]), "xlsx")
    assert sheets["S"].rows == [[1]]


def test_registered_for_every_workbook_format() -> None:
    assert all(READERS[fmt] is read_excel for fmt in ("xlsx", "xlsm", "xlsb", "xls", "ods"))


# -- layout: header, names, blank rows and columns ------------------------------------


def test_header_is_the_first_row_with_a_value_and_names_are_made_unique(tmp_path: Path) -> None:
    rows: Rows = [
        None,
        [None, None],
        [None, "name", "", "name", "name", 2024, date(2024, 1, 1), None],
        [None, "a", 1, "b", "c", 5, 6, None],
        [None, None, None, None, None, None, None, None],
        [None, "d", 2, None, None, None, None, None],
        None,
    ]
    sheet = read(tmp_path, xlsx([("Layout", rows)]), "xlsx")["Layout"]

    assert list(sheet.types) == ["name", "column_2", "name_2", "name_3", "2024", "2024-01-01"]
    assert sheet.rows == [["a", 1, "b", "c", 5, 6], ["d", 2, None, None, None, None]]
    assert sheet.header.rows_total == 2
    assert sheet.header.warnings == [
        "Sheet 'Layout': 1 column(s) had no name in the header and were named column_N.",
        "Sheet 'Layout': Repeated column names were made unique: name → name_2, name → name_3.",
    ]


def test_blank_columns_without_a_name_are_left_out_but_named_ones_stay(tmp_path: Path) -> None:
    rows: Rows = [
        ["a", None, "named but empty", None, "b", "   "],
        [1, None, None, None, 2, "  "],
        [3, None, None, None, 4, None],
    ]
    sheet = read(tmp_path, xlsx([("S", rows)]), "xlsx")["S"]
    assert sheet.types == {"a": "integer", "named but empty": "string", "b": "integer"}
    assert sheet.rows == [[1, None, 2], [3, None, 4]]


def test_empty_sheets_are_kept_as_empty_parts_with_a_warning(tmp_path: Path) -> None:
    sheets = read(tmp_path, xlsx([("Blank", []), ("Data", [["a"], [1]]), ("Spaces", [None, ["  ", None]])]), "xlsx")

    assert list(sheets) == ["Blank", "Data", "Spaces"]
    for name in ("Blank", "Spaces"):
        assert sheets[name].header.columns == []
        assert sheets[name].header.rows_total == 0
        assert sheets[name].rows == []
        assert sheets[name].header.warnings == [f"Sheet {name!r} is empty."]
    assert sheets["Data"].rows == [[1]]


def test_a_header_without_rows_is_a_table_of_strings(tmp_path: Path) -> None:
    sheet = read(tmp_path, xlsx([("S", [["a", "b"]])]), "xlsx")["S"]
    assert sheet.types == {"a": "string", "b": "string"}
    assert sheet.header.rows_total == 0
    assert sheet.rows == []


def test_a_workbook_without_any_value_is_empty(tmp_path: Path) -> None:
    error = failure(tmp_path, xlsx([("One", []), ("Two", [None, [None]])]), "xlsx")
    assert isinstance(error, EmptyFile)
    assert error.code == "empty_file"


def test_rows_come_in_batches(tmp_path: Path) -> None:
    rows: Rows = [["n", "square"], *([i, i * i] for i in range(1, 8))]
    sheet = read(tmp_path, xlsx([("S", rows)]), "xlsx", batch_rows=3)["S"]
    assert sheet.batches == 3
    assert sheet.rows == [[i, i * i] for i in range(1, 8)]


# -- types --------------------------------------------------------------------------------


def test_mixed_columns_are_typed_from_their_text_without_losing_values(tmp_path: Path) -> None:
    rows: Rows = [
        ["with_na", "with_word", "with_bool", "with_error", "date_or_text", "leading_zero"],
        [1, 1, 1.5, 1, date(2024, 1, 2), "007"],
        ["N/A", 2, True, Err("#DIV/0!"), "soon", "042"],
        [2.5, "abc", 3, 2, date(2024, 1, 3), "100"],
    ]
    sheet = read(tmp_path, xlsx([("S", rows)]), "xlsx")["S"]

    assert sheet.types == {
        "with_na": "float",
        "with_word": "string",
        "with_bool": "string",
        "with_error": "integer",
        "date_or_text": "string",
        "leading_zero": "string",
    }
    assert [row[:4] for row in sheet.rows] == [
        [1.0, "1", "1.5", 1],
        [None, "2", "true", None],
        [2.5, "abc", "3", 2],
    ]
    assert [row[5] for row in sheet.rows] == ["007", "042", "100"]


def test_numbers_times_and_durations(tmp_path: Path) -> None:
    rows: Rows = [
        ["whole", "big", "precise", "time", "duration"],
        [3.0, 1e20, 0.1 + 0.2, time(6, 30), timedelta(hours=36)],
        [-4, 2.0**53 + 2, 1 / 3, time(23, 59, 59), timedelta(minutes=-90)],
        [1e15, 1e-7, 2.5, time(0, 0), timedelta(seconds=8, milliseconds=640)],
    ]
    sheet = read(tmp_path, xlsx([("S", rows)]), "xlsx")["S"]

    assert sheet.types == {
        "whole": "integer",
        "big": "float",
        "precise": "float",
        "time": "string",
        "duration": "string",
    }
    assert [row[0] for row in sheet.rows] == [3, -4, 10**15]
    assert [row[1] for row in sheet.rows] == [1e20, 2.0**53 + 2, 1e-7]
    assert [row[2] for row in sheet.rows] == [0.1 + 0.2, 1 / 3, 2.5]  # exact, not as displayed
    assert [row[3] for row in sheet.rows] == ["06:30:00", "23:59:59", "00:00:00"]
    assert [row[4] for row in sheet.rows] == ["36:00:00", "-01:30:00", "00:00:08.640"]


def test_date_text_is_typed_like_csv(tmp_path: Path) -> None:
    rows: Rows = [
        ["day", "when", "flag"],
        ["2024-01-02", "2024-01-02T10:00:00", "TRUE"],
        ["NA", "2024-01-03 11:30", "false"],
    ]
    sheet = read(tmp_path, xlsx([("S", rows)]), "xlsx")["S"]
    assert sheet.types == {"day": "date", "when": "datetime", "flag": "boolean"}
    assert sheet.rows == [["2024-01-02", "2024-01-02T10:00:00", True], [None, "2024-01-03T11:30:00", False]]


# -- damaged, disguised and hostile files ----------------------------------------------


def test_a_truncated_xlsx_is_corrupt(tmp_path: Path) -> None:
    data = xlsx([("People", PEOPLE)])
    error = failure(tmp_path, data[: len(data) // 2], "xlsx")
    assert isinstance(error, CorruptFile)
    assert error.code == "corrupt_file"
    assert error.message.startswith("The workbook is damaged or truncated: ")


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "ods", "xlsb"])
def test_a_file_that_is_not_a_workbook_is_corrupt(tmp_path: Path, fmt: str) -> None:
    error = failure(tmp_path, b"id,name\n1,Ada\n" * 20, fmt)
    assert isinstance(error, CorruptFile)
    assert error.message == (
        "The workbook is damaged or truncated: it is neither a zip archive (xlsx, xlsm, xlsb, ods) "
        "nor a legacy Excel file (xls)."
    )


def test_a_zip_without_a_workbook_is_corrupt(tmp_path: Path) -> None:
    error = failure(tmp_path, zipped({"readme.txt": "hello"}), "xlsx")
    assert isinstance(error, CorruptFile)
    assert "holds no workbook" in error.message


def test_a_damaged_xls_is_corrupt(tmp_path: Path) -> None:
    data = xls([("S", [["a"], [1]])])
    damaged = data[:30] + b"\0\0" + data[32:]  # the sector shift
    error = failure(tmp_path, damaged, "xls")
    assert isinstance(error, CorruptFile)
    assert error.message.startswith("The workbook is damaged or truncated: it cannot be read (Xls error:")


def test_a_truncated_xls_is_corrupt(tmp_path: Path) -> None:
    data = xls([("S", [["a"], *([i] for i in range(400))])])
    error = failure(tmp_path, data[:1500], "xls")
    assert isinstance(error, CorruptFile)


def test_a_damaged_xlsb_is_corrupt(tmp_path: Path) -> None:
    data = xlsb([("S", [["a"], [1]])])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["xl/workbook.bin"] = members["xl/workbook.bin"][:9]  # cut inside the sheet index
    error = failure(tmp_path, zipped(members), "xlsb")
    assert isinstance(error, CorruptFile)


def test_malformed_sheet_xml_is_corrupt(tmp_path: Path) -> None:
    data = xlsx([("S", [["a"], [1]])])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["xl/worksheets/sheet1.xml"] = b'<worksheet xmlns="x"><sheetData><row r="1"><c r="A1" t="s"><v>7</v>'
    error = failure(tmp_path, zipped(members), "xlsx")
    assert isinstance(error, CorruptFile)
    assert "sheet 'S'" in error.message


def test_a_password_protected_xlsx_says_so(tmp_path: Path) -> None:
    """Excel stores an encrypted xlsx as an OLE2 file holding an ``EncryptedPackage`` stream."""
    error = failure(tmp_path, compound_file("EncryptedPackage", b"\x01" * 4096), "xlsx")
    assert isinstance(error, PasswordProtected)
    assert error.code == "password_protected"


def test_a_zip_bomb_is_refused_before_fastexcel_opens_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[object] = []
    monkeypatch.setattr(fastexcel, "read_excel", lambda source: opened.append(source))
    zeros = zipped(
        {
            "[Content_Types].xml": "<Types/>",
            "xl/workbook.xml": "<workbook/>",
            "xl/worksheets/sheet1.xml": b"\0" * (8 << 20),
        }
    )

    error = failure(tmp_path, zeros, "xlsx")

    assert isinstance(error, ZipBomb)
    assert error.code == "zip_bomb"
    assert "xl/worksheets/sheet1.xml" in error.message
    assert opened == []


class PanicException(BaseException):
    """Stands for the exception pyo3 raises when Rust code panics (it is not an ``Exception``)."""


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (fastexcel.CalamineError("calamine error: Xlsx error: boom\nContext: ..."), CorruptFile),
        (fastexcel.CalamineCellError("bad cell"), CorruptFile),
        (fastexcel.UnsupportedColumnTypeCombinationError("mixed"), ParseError),
        (fastexcel.CalamineError("calamine error: Xlsb error: Workbook is password protected"), PasswordProtected),
        (PanicException("index out of bounds"), CorruptFile),
    ],
)
def test_fastexcel_failures_become_parse_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raised: BaseException, expected: type[ParseError]
) -> None:
    def load_sheet(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise raised

    monkeypatch.setattr(fastexcel.ExcelReader, "load_sheet", load_sheet)
    error = failure(tmp_path, xlsx([("S", [["a"], [1]])]), "xlsx")
    assert type(error) is expected
    assert "sheet 'S'" in error.message or expected is PasswordProtected


def test_other_exceptions_are_not_swallowed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def load_sheet(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(fastexcel.ExcelReader, "load_sheet", load_sheet)
    with pytest.raises(KeyboardInterrupt):
        read(tmp_path, xlsx([("S", [["a"], [1]])]), "xlsx")


# -- through the pipeline, read back as the gateway reads it ----------------------------


async def test_workbook_round_trip_through_the_read_model(
    infra: Infrastructure,
    settings: ParserSettings,
    upload: Upload,
    mongo_db: AsyncDatabase[Document],
    recorder: Recorder,
    wait: Callable[..., Awaitable[None]],
) -> None:
    orders: Rows = [
        None,
        ["order", "placed", "amount", "paid"],
        *([n, date(2024, 1, 1) + timedelta(days=n % 28), n * 1.25, n % 2 == 0] for n in range(1, 101)),
    ]
    data = xlsx([("Orders", orders), ("Notes", []), ("People", PEOPLE)])
    event = await upload(data, "xlsx", filename="book.xlsx")

    await FileParser(infra, settings).parse(event)

    await wait(lambda: bool(recorder.of_type("file.parsed.v1", event.file_id)))
    summary = FileParsed.model_validate(recorder.of_type("file.parsed.v1")[0].data).summary
    assert summary.kind == "table"
    assert summary.rows == 103
    assert summary.metadata == {"format": "xlsx", "sheet_count": 3, "sheet_names": ["Orders", "Notes", "People"]}
    assert [(s.name, s.rows) for s in summary.sheets] == [("Orders", 100), ("Notes", 0), ("People", 3)]
    assert [(c.name, c.type) for c in summary.columns] == [
        ("order", "integer"),
        ("placed", "date"),
        ("amount", "float"),
        ("paid", "boolean"),
    ]
    assert summary.warnings == ["Sheet 'Notes' is empty."]

    model = ParsedReadModel(mongo_db)
    assert await model.summary(event.file_id) == summary
    page = await model.table_page(event.file_id, summary, "Orders", offset=38, limit=4)  # across a chunk boundary
    assert page.total == 100
    assert page.columns == ["order", "placed", "amount", "paid"]
    assert page.rows == [
        [39, "2024-01-12", 48.75, False],
        [40, "2024-01-13", 50.0, True],
        [41, "2024-01-14", 51.25, False],
        [42, "2024-01-15", 52.5, True],
    ]
    people = await model.table_page(event.file_id, summary, "People", offset=0, limit=10)
    assert people.columns == list(PEOPLE_TYPES)
    assert people.rows == PEOPLE_VALUES
    notes = await model.table_page(event.file_id, summary, "Notes", offset=0, limit=10)
    assert (notes.total, notes.columns, notes.rows) == (0, [], [])


async def test_a_zip_bomb_fails_through_the_pipeline(
    infra: Infrastructure,
    settings: ParserSettings,
    upload: Upload,
    recorder: Recorder,
    wait: Callable[..., Awaitable[None]],
) -> None:
    bomb = zipped({"xl/workbook.xml": "<workbook/>", "xl/worksheets/sheet1.xml": b" " * (16 << 20)})
    event = await upload(bomb, "xlsx")

    await FileParser(infra, settings).parse(event)

    await wait(lambda: bool(recorder.of_type("file.failed.v1", event.file_id)))
    error = recorder.of_type("file.failed.v1")[0].data["error"]
    assert error["code"] == "zip_bomb"
    assert error["message"].startswith("The workbook was refused as a zip bomb: ")
