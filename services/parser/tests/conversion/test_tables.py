"""Every table target round-tripped: written from stored rows, read back, the same values and types."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fastexcel
import polars as pl
import pytest

from ferry_core.events import ColumnInfo
from ferry_parser.conversion import write_table
from ferry_parser.conversion.values import ValueMismatch
from ferry_parser.conversion.xlsx import write_xlsx

from .conftest import parse

COLUMNS = [
    ColumnInfo(name="id", type="integer"),
    ColumnInfo(name="big", type="integer"),
    ColumnInfo(name="ratio", type="float"),
    ColumnInfo(name="ok", type="boolean"),
    ColumnInfo(name="day", type="date"),
    ColumnInfo(name="at", type="datetime"),
    ColumnInfo(name="name", type="string"),
]
# As parsed_chunks stores them: dates and datetimes as ISO text, UTC ones ending in Z.
ROWS: list[list[Any]] = [
    [1, 2**62, 0.1, True, "2024-02-29", "2024-01-02T03:04:05Z", 'Zürich, "quoted"'],
    [2, -(2**63), -1.5e300, False, "1999-12-31", "2023-06-30T23:59:59.123000Z", "日本語\nzweite Zeile"],
    [3, None, None, None, None, None, None],
    [4, 9_007_199_254_740_993, 3.0, True, "2000-01-01", "2000-01-01T00:00:00Z", ""],
    [5, 0, -0.25, False, "1970-01-01", "1970-01-01T12:00:00Z", " =1+1 "],
]
NAMES = [column.name for column in COLUMNS]


def batches(rows: list[list[Any]], size: int = 2) -> Iterator[list[list[Any]]]:
    return iter([rows[i : i + size] for i in range(0, len(rows), size)])


def typed(rows: list[list[Any]]) -> list[list[Any]]:
    """The stored rows with dates and datetimes as Python values (what a typed reader gives back)."""
    out = []
    for row in rows:
        day = date.fromisoformat(row[4]) if row[4] else None
        at = datetime.fromisoformat(row[5]) if row[5] else None
        out.append([*row[:4], day, at, row[6]])
    return out


def test_csv_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    write_table(COLUMNS, batches(ROWS), "csv", out)

    raw = out.read_bytes()
    assert raw.startswith(b"id,big,ratio,ok,day,at,name\r\n")
    assert not raw.startswith(b"\xef\xbb\xbf")
    frame = pl.read_csv(out, try_parse_dates=True)
    assert frame.columns == NAMES
    assert frame.schema["ok"] == pl.Boolean and frame.schema["day"] == pl.Date
    assert [list(row) for row in frame.rows()] == typed(ROWS)


def test_csv_reads_back_through_the_parser(tmp_path: Path) -> None:
    out = tmp_path / "t.csv"
    write_table(COLUMNS, batches(ROWS), "csv", out)

    columns, rows = parse(out, "csv", tmp_path / "work")

    assert [(c.name, c.type) for c in columns] == [(c.name, c.type) for c in COLUMNS]
    # The parser reads an empty field as missing, quoted or not.
    assert rows == [[value if value != "" else None for value in row] for row in ROWS]


@pytest.mark.parametrize("target", ["json", "ndjson"])
def test_json_round_trip(tmp_path: Path, target: str) -> None:
    out = tmp_path / f"t.{target}"
    write_table(COLUMNS, batches(ROWS), target, out)

    text = out.read_text(encoding="utf-8")
    objects = json.loads(text) if target == "json" else [json.loads(line) for line in text.splitlines()]
    assert objects == [dict(zip(NAMES, row, strict=True)) for row in ROWS]
    assert "日本語" in text  # UTF-8, not \u escapes
    if target == "ndjson":
        assert pl.read_ndjson(out).height == len(ROWS)


def test_json_of_no_rows_is_an_empty_array(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    write_table(COLUMNS, iter([]), "json", out)
    assert json.loads(out.read_text()) == []


def test_parquet_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    write_table(COLUMNS, batches(ROWS), "parquet", out)

    frame = pl.read_parquet(out)
    assert dict(frame.schema) == {
        "id": pl.Int64,
        "big": pl.Int64,
        "ratio": pl.Float64,
        "ok": pl.Boolean,
        "day": pl.Date,
        "at": pl.Datetime("us", "UTC"),
        "name": pl.String,
    }
    assert [list(row) for row in frame.rows()] == typed(ROWS)


def test_parquet_naive_datetimes_stay_naive(tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    columns = [ColumnInfo(name="at", type="datetime")]
    write_table(columns, iter([[[None], ["2024-05-06T07:08:09"]], [["2024-05-06T07:08:09.5Z"]]]), "parquet", out)

    frame = pl.read_parquet(out)
    assert frame.schema["at"] == pl.Datetime("us")
    # A UTC value in a naive column keeps its UTC time.
    assert frame["at"].to_list() == [None, datetime(2024, 5, 6, 7, 8, 9), datetime(2024, 5, 6, 7, 8, 9, 500000)]


def test_parquet_refuses_a_value_not_of_its_column_type(tmp_path: Path) -> None:
    with pytest.raises(ValueMismatch, match="'id'"):
        write_table([ColumnInfo(name="id", type="integer")], iter([[[1], ["two"]]]), "parquet", tmp_path / "t.parquet")


def test_xlsx_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    write_table(COLUMNS, batches(ROWS), "xlsx", out, sheet="Größen/2024")

    workbook = fastexcel.read_excel(out)
    assert workbook.sheet_names == ["Größen_2024"]
    frame = workbook.load_sheet(0, dtypes={"big": "string"}).to_polars()
    assert frame.columns == NAMES
    assert frame.schema["day"] == pl.Datetime("ms") and frame.schema["ok"] == pl.Boolean
    expected = typed(ROWS)
    for row in expected:
        row[1] = None if row[1] is None else str(row[1])
        row[4] = None if row[4] is None else datetime.combine(row[4], datetime.min.time())
        row[5] = None if row[5] is None else row[5].astimezone(UTC).replace(tzinfo=None)
    assert [list(row) for row in frame.rows()] == expected


def test_xlsx_reads_back_through_the_parser_and_on_to_csv(tmp_path: Path) -> None:
    """xlsx → the parser's Excel reader → csv: the values the table started with.

    Integers past 2**53 are text cells, which the reader types back as integers, exactly.
    """
    xlsx = tmp_path / "t.xlsx"
    write_table(COLUMNS, batches(ROWS), "xlsx", xlsx)

    columns, parsed = parse(xlsx, "xlsx", tmp_path / "work")
    assert [(c.name, c.type) for c in columns] == [(c.name, c.type) for c in COLUMNS]
    expected = [list(row) for row in ROWS]
    for row in expected:
        row[5] = row[5] and row[5].removesuffix("Z")  # Excel keeps no time zone: the UTC time comes back naive
        row[6] = row[6] or None  # the reader takes a blank cell as missing
    assert parsed == expected

    csv = tmp_path / "t.csv"
    write_table(columns, batches(parsed), "csv", csv)
    assert parse(csv, "csv", tmp_path / "work2") == (columns, expected)


def test_xlsx_continues_a_long_table_on_further_sheets(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    rows = [[i] for i in range(10)]
    write_xlsx([ColumnInfo(name="n", type="integer")], batches(rows, 4), out, sheet="Data", max_rows=4)

    workbook = fastexcel.read_excel(out)
    assert workbook.sheet_names == ["Data", "Data (2)", "Data (3)", "Data (4)"]
    values = [v for i in range(4) for v in workbook.load_sheet(i).to_polars()["n"].to_list()]
    assert values == list(range(10))


def test_xlsx_writes_text_never_as_a_formula_or_link(tmp_path: Path) -> None:
    out = tmp_path / "t.xlsx"
    texts = ['=HYPERLINK("http://x")', "http://example.com", "+1", "007"]
    write_table([ColumnInfo(name="s", type="string")], iter([[[t] for t in texts]]), "xlsx", out)

    frame = fastexcel.read_excel(out).load_sheet(0, dtypes="string").to_polars()
    assert frame["s"].to_list() == texts
    with zipfile.ZipFile(out) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<hyperlink" not in sheet


def test_unknown_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pdf"):
        write_table(COLUMNS, batches(ROWS), "pdf", tmp_path / "t.pdf")
