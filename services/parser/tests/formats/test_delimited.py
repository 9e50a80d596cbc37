import codecs

import pytest

from ferry_parser.errors import EmptyFile, MalformedCsv, Undecodable

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
    assert result.table.metadata == {"delimiter": ",", "encoding": "utf-8", "has_header": True, "quote_char": '"'}


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


def test_ragged_rows_and_blank_lines(read: Read) -> None:
    result = read(b"a,b\n1,2\n\n3\n4,5,6\n\n", "csv")
    assert result.rows == [[1, 2], [3, None], [4, 5]]
    assert any("extra values" in w for w in result.table.warnings)


def test_header_only(read: Read) -> None:
    result = read(b"a,b\n", "csv")
    assert result.table.rows_total == 0
    assert result.types == {"a": "string", "b": "string"}
    assert result.rows == []


def test_single_column_csv_keeps_whole_lines(read: Read) -> None:
    result = read(b"city\nOslo\nRome\n", "csv")
    assert result.table.metadata["delimiter"] is None
    assert result.rows == [["Oslo"], ["Rome"]]


def test_prose_txt_is_text_pages(read: Read) -> None:
    lines = [f"Line {i} of a story, with words." if i % 3 else f"Line {i}" for i in range(250)]
    result = read(("\n".join(lines) + "\n").encode(), "txt")
    assert result.document.kind == "text"
    assert result.document.pages_total == 3
    assert result.document.metadata["lines"] == 250
    assert [n for n, _ in result.pages] == [1, 2, 3]
    assert result.pages[0][1].splitlines()[0] == "Line 0"
    assert len(result.pages[2][1].splitlines()) == 50


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
