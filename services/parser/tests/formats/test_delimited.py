import codecs
import dataclasses
from pathlib import Path

import polars as pl
import pytest

from ferry_parser.errors import EmptyFile, LineTooLong, MalformedCsv, Retype, Undecodable
from ferry_parser.formats import ReadOptions, layout, text
from ferry_parser.formats.delimited import read_delimited

from .conftest import Read


def test_csv_with_header_and_types(read: Read) -> None:
    data = b'id,name,price,ok,day,at\n1,"Smith, J",1.5,true,2024-01-31,2024-01-31T10:00:00Z\n2,Ann,,false,2024-02-01,\n'
    result = read(data, "csv")
    assert result.types == {
        "id": "integer",
        "name": "string",
        "price": "float",
        "ok": "boolean",
        "day": "date",
        "at": "datetime",
    }
    assert result.rows == [
        [1, "Smith, J", 1.5, True, "2024-01-31", "2024-01-31T10:00:00Z"],
        [2, "Ann", None, False, "2024-02-01", None],
    ]
    assert result.table.rows_total == 2
    assert result.table.metadata == {
        "delimiter": ",",
        "encoding": "utf-8",
        "has_header": True,
        "quote_char": '"',
        "ragged_rows": {"count": 0, "first_lines": []},
    }
    assert result.table.warnings == []


def test_tsv_without_header(read: Read) -> None:
    result = read(b"1\t2.5\n3\t4.5\n", "tsv")
    assert result.table.metadata["has_header"] is False
    assert result.table.metadata["delimiter"] == "\t"
    assert result.types == {"column_1": "integer", "column_2": "float"}
    assert result.rows == [[1, 2.5], [3, 4.5]]


def test_semicolons_and_decimal_commas_in_cp1252(read: Read) -> None:
    data = "Stadt;Betrag;Datum\nKöln;1,5;31.01.2024\nMünchen;2,25;01.02.2024\n".encode("cp1252")
    result = read(data, "txt")
    assert result.table.metadata["encoding"] == "cp1252"
    assert result.table.metadata["delimiter"] == ";"
    assert result.types == {"Stadt": "string", "Betrag": "float", "Datum": "date"}
    assert result.rows == [["Köln", 1.5, "2024-01-31"], ["München", 2.25, "2024-02-01"]]
    assert any("cp1252" in w for w in result.table.warnings)


def test_utf8_bom_and_crlf(read: Read) -> None:
    result = read(codecs.BOM_UTF8 + b"a|b\r\n1|x\r\n", "csv")
    assert [c.name for c in result.table.columns] == ["a", "b"]
    assert result.rows == [[1, "x"]]
    assert result.table.metadata["encoding"] == "utf-8-sig"


def test_utf16_spreadsheet_export(read: Read) -> None:
    result = read("name\tn\nÅsa\t1\n".encode("utf-16"), "txt")
    assert result.rows == [["Åsa", 1]]


def test_types_hold_for_the_whole_file_not_just_its_start(read: Read) -> None:
    lines = ["n,code"] + [f"{i},{i}" for i in range(1000)] + ["1.5,X1"]
    result = read(("\n".join(lines) + "\n").encode(), "csv", batch_rows=100)
    assert result.types == {"n": "float", "code": "string"}
    assert result.rows[0] == [0.0, "0"]
    assert result.rows[-1] == [1.5, "X1"]
    assert len(result.rows) == 1001
    assert result.batches == 11


def test_ragged_rows_are_kept_and_reported(read: Read) -> None:
    result = read(b"a,b\n1,2\n\n3\n4,5,6\n\n7,8,,\n9,10,x,,y\n", "csv")
    assert [c.name for c in result.table.columns] == ["a", "b", "_extra"]
    assert result.types == {"a": "integer", "b": "integer", "_extra": "string"}
    assert result.rows == [[1, 2, None], [3, None, None], [4, 5, "6"], [7, 8, None], [9, 10, "x,,y"]]
    assert result.table.rows_total == 5
    assert result.table.metadata["ragged_rows"] == {"count": 3, "first_lines": [4, 5, 8]}
    assert result.table.warnings == [
        "3 rows have a different number of fields than the header (first at lines 4, 5, 8); "
        "short rows are padded with empty values and values beyond the last column are kept in column '_extra'."
    ]


def test_many_ragged_rows_list_the_first_lines(read: Read) -> None:
    lines = ["a,b"] + [f"{i},{i}" if i % 4 else f"{i}" for i in range(1, 101)]
    result = read(("\n".join(lines) + "\n").encode(), "csv")
    ragged = result.table.metadata["ragged_rows"]
    assert ragged["count"] == 25
    assert ragged["first_lines"] == [5, 9, 13, 17, 21, 25, 29, 33, 37, 41]
    assert result.table.warnings[0].startswith(
        "25 rows have a different number of fields than the header (first at lines 5, 9, 13); "
    )
    assert [c.name for c in result.table.columns] == ["a", "b"]
    assert len(result.rows) == 100


def test_the_extra_column_never_takes_a_header_name(read: Read) -> None:
    result = read(b"id,_extra\n1,a\n2,b,c\n", "csv")
    assert [c.name for c in result.table.columns] == ["id", "_extra", "_extra_2"]
    assert result.rows == [[1, "a", None], [2, "b", "c"]]
    assert "1 row has a different number of fields than the header (at line 3)" in result.table.warnings[0]


def test_trailing_delimiters_are_not_ragged(read: Read) -> None:
    result = read(b"a,b\n1,2,\n3,4,,\n", "csv")
    assert result.rows == [[1, 2], [3, 4]]
    assert result.table.metadata["ragged_rows"] == {"count": 0, "first_lines": []}
    assert result.table.warnings == []


def test_header_only(read: Read) -> None:
    result = read(b"a,b\n", "csv")
    assert result.table.rows_total == 0
    assert result.types == {"a": "string", "b": "string"}
    assert result.rows == []


def test_single_column_csv_keeps_whole_lines(read: Read) -> None:
    result = read(b"city\nOslo\nRome\n", "csv")
    assert result.table.metadata["delimiter"] is None
    assert result.rows == [["Oslo"], ["Rome"]]


def test_prose_txt_is_text_in_paragraphs(read: Read) -> None:
    paragraphs = [
        "\n".join(f"Line {i} of paragraph {p}, with words." if i % 3 else f"Line {i}" for i in range(p + 1))
        for p in range(60)
    ]
    result = read(("\n\n".join(paragraphs) + "\n").encode(), "txt")
    assert result.document.kind == "text"
    assert result.document.pages_total == 60
    assert result.document.metadata == {"encoding": "utf-8", "lines": 1889, "paragraphs": 60}
    assert result.pages[:2] == [(1, "Line 0"), (2, "Line 0\nLine 1 of paragraph 1, with words.")]
    assert [n for n, _ in result.pages] == list(range(1, 61))
    assert result.document.warnings == []


def test_paragraphs_are_capped_by_max_text_bytes(read: Read) -> None:
    text = "Intro.\n\n" + "Ünïcödé words here.\n" * 100 + "\nEnd.\n"
    result = read(text.encode(), "txt", max_text_bytes=500)
    assert all(len(page.encode()) <= 500 for _, page in result.pages)
    assert result.pages[0] == (1, "Intro.")
    assert result.pages[-1][1] == "End."
    assert result.document.metadata["paragraphs"] == 3
    assert result.document.pages_total == len(result.pages) > 3
    assert "1 paragraph(s) longer than 500 bytes" in result.document.warnings[0]


def test_a_txt_without_a_line_break_in_its_sample_is_text(read: Read) -> None:
    data = b"a,b,c," * (text.SAMPLE_BYTES // 4)
    result = read(data, "txt", max_text_bytes=5000)
    assert result.document.kind == "text"
    assert "".join(page for _, page in result.pages).encode() == data


def test_unclosed_quote_is_malformed(read: Read) -> None:
    with pytest.raises(MalformedCsv, match="quoted value"):
        read(b'a,b\n1,"never closed\n2,3\n', "csv")


def test_empty_and_blank_files(read: Read) -> None:
    with pytest.raises(EmptyFile):
        read(b"", "csv")
    with pytest.raises(EmptyFile):
        read(b"\n \n", "tsv")


def test_binary_file_is_undecodable(read: Read) -> None:
    with pytest.raises(Undecodable):
        read(bytes(range(256)) * 4, "csv")


def test_quoted_values_with_line_breaks_and_line_numbers_after_them(read: Read) -> None:
    data = b'id,note\r\n1,"two\r\nlines"\r\n2,"three\nlines\nhere"\r\n3\r\n4,"a ""quoted"" word"\r\n'
    result = read(data, "csv")
    assert result.rows == [[1, "two\r\nlines"], [2, "three\nlines\nhere"], [3, None], [4, 'a "quoted" word']]
    assert result.table.metadata["ragged_rows"] == {"count": 1, "first_lines": [7]}


def test_stray_quotes_inside_values_are_kept(read: Read) -> None:
    data = b'size,item\n5" pipe,"Hose, 10 m"\n3" nut,bolt\rwasher\n'
    result = read(data, "csv")  # polars refuses the block; Python's csv module reads it
    assert result.rows == [['5" pipe', "Hose, 10 m"], ['3" nut', "bolt\rwasher"]]


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_a_carriage_return_inside_a_value_is_not_a_line_end(read: Read, end: bytes) -> None:
    data = end.join([b"a,b", b"1,x\ry", b'2,"q\rr"', b"3,z"]) + end
    result = read(data, "csv")
    assert result.rows == [[1, "x\ry"], [2, "q\rr"], [3, "z"]]
    assert result.table.metadata["ragged_rows"]["count"] == 0


def test_quoted_empty_values_are_null(read: Read) -> None:
    result = read(b'a,b\n"",x\n"",""\n1,""\n', "csv")
    assert result.rows == [[None, "x"], [1, None]]
    assert result.types == {"a": "integer", "b": "string"}


def test_blocks_of_records_give_the_same_table(read: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = ["n,when,text"] + [f'{i},2024-01-{i % 28 + 1:02d},"multi\nline {i}"' for i in range(500)] + ["x,,"]
    data = ("\n".join(lines) + "\n").encode()
    whole = read(data, "csv")
    monkeypatch.setattr(layout, "BLOCK_RECORDS", 7)
    monkeypatch.setattr(layout, "BLOCK_BYTES", 100)
    blocks = read(data, "csv", batch_rows=50)
    assert blocks.rows == whole.rows
    assert blocks.types == whole.types == {"n": "string", "when": "date", "text": "string"}
    assert blocks.batches > whole.batches
    assert blocks.table.rows_total == 501
    # "n" reads as integer in the first block of 7 but not at the end: the read started over.
    assert blocks.retyped and not whole.retyped


def test_types_from_the_first_block_are_checked_against_every_row(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_bytes(b"n,when\n1,2024-01-01T10:00:00Z\n2,2024-01-02 10:00\n")
    options = ReadOptions(format="csv", workdir=tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(layout, "BLOCK_RECORDS", 1)
        with pytest.raises(Retype):
            list(read_delimited(path, options))  # the second block's datetime pattern is new
        items = list(read_delimited(path, dataclasses.replace(options, types_from_all_rows=True)))
    frames = [item for item in items if isinstance(item, pl.DataFrame)]
    assert [row for frame in frames for row in frame.rows()] == [
        (1, "2024-01-01T10:00:00Z"),
        (2, "2024-01-02T10:00:00"),
    ]


def test_a_line_longer_than_the_limit_fails_cleanly(read: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "MAX_LINE_BYTES", 1000)
    read(b"a,b\n" + b"x" * 990 + b",y\n", "csv")  # within the limit
    with pytest.raises(LineTooLong, match="Line 3 is longer than") as failure:
        read(b"a,b\n1,2\n" + b"x" * 1000 + b",y\n", "csv")
    assert failure.value.code == "line_too_long"


def test_a_value_longer_than_the_limit_fails_cleanly(read: Read, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(layout, "MAX_LINE_BYTES", 1000)
    data = b'a,b\n1,"' + b"many short lines\n" * 100 + b'"\n'
    with pytest.raises(LineTooLong, match="A value ending at line 60 is longer than"):
        read(data, "csv")


def test_an_unclosed_quote_beyond_the_sample_is_malformed(read: Read) -> None:
    data = b"a,b\n" + b"1,2\n" * (text.SAMPLE_BYTES // 4) + b'3,"never closed\n4,5\n'
    with pytest.raises(MalformedCsv, match="never closed"):
        read(data, "csv")


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [("utf-8", b""), ("utf-8", codecs.BOM_UTF8), ("utf-16", b""), ("cp1252", b""), ("latin-1", b"")],
)
def test_accented_text_survives_every_encoding(read: Read, encoding: str, prefix: bytes) -> None:
    rows = [["Zoë", "Kraków"] if encoding in ("utf-8", "utf-16") else ["Zoë", "Besançon"], ["Ærø", "Malmö"]]
    data = prefix + ("name;city\n" + "".join(f"{a};{b}\n" for a, b in rows)).encode(encoding)
    if encoding == "latin-1":
        data += "\x81x;y\n".encode("latin-1")  # undefined in cp1252
        rows.append(["\x81x", "y"])
    result = read(data, "csv")
    assert result.rows == rows


def test_excel_separator_hint_and_blank_lines_before_the_header(read: Read) -> None:
    result = read(b"sep=;\r\n\r\n\x0c\r\na;b\r\n1;2\r\n3\r\n", "csv")
    assert [c.name for c in result.table.columns] == ["a", "b"]
    assert result.rows == [[1, 2], [3, None]]
    assert result.table.metadata["ragged_rows"] == {"count": 1, "first_lines": [6]}


def test_lines_of_blank_space_are_no_rows(read: Read) -> None:
    result = read(b"a,b\n1,2\n   \n \t, \n3, x \n", "csv")
    assert result.rows == [[1, "2"], [3, " x "]]
    assert result.table.rows_total == 2
    assert result.table.metadata["ragged_rows"]["count"] == 0
