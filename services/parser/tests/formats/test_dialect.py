import pytest

from ferry_parser.errors import MalformedCsv
from ferry_parser.formats.dialect import column_names, detect_delimiter, detect_header, sniff


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("a,b,c\n1,2,3\n4,5,6\n", ","),
        ("a;b;c\n1,5;2,5;3\n4;5;6\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ('name,quote\nx,"a; b; c"\ny,"d; e"\n', ","),
        ("id\tnote\n1\tsome, commas, here\n2\tmore, here\n3\tnone\n", "\t"),
    ],
)
def test_detect_delimiter(sample: str, delimiter: str) -> None:
    assert detect_delimiter(sample) == delimiter


def test_no_delimiter_in_prose() -> None:
    prose = "It was a dark night.\nThe rain fell, and fell.\nNobody came.\nThe end.\n"
    assert detect_delimiter(prose) is None


def test_a_tie_goes_to_the_declared_format() -> None:
    sample = "a,b;c\n1,2;3\n"
    assert sniff(sample, at_end=True, fmt="csv").delimiter == ","
    assert sniff("a\tb,c\n1\t2,3\n", at_end=True, fmt="tsv").delimiter == "\t"


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([["id", "price"], ["1", "2.5"], ["2", "3.5"]], True),
        ([["1", "2.5"], ["2", "3.5"], ["3", "4.5"]], False),
        ([["name", "city"], ["Ann", "Oslo"], ["Bob", "Rome"]], True),
        ([["", "a", "b"], ["0", "1", "x"], ["1", "2", "y"]], True),  # pandas' unnamed index column
        ([["when", "n"], ["2024-01-01", "1"]], True),
        ([["2024-01-01", "1"], ["2024-01-02", "2"]], False),
        ([["x", "x"], ["y", "y"]], False),
        ([["only", "header"]], True),
        ([["1", "2", "3"]], False),
    ],
)
def test_detect_header(records: list[list[str]], expected: bool) -> None:
    assert detect_header(records) is expected


def test_column_names_are_unique_and_never_empty() -> None:
    names, warnings = column_names([" id ", "", "id", "id", "x"], has_header=True)
    assert names == ["id", "column_2", "id_2", "id_3", "x"]
    assert len(warnings) == 2


def test_columns_without_a_header_are_numbered() -> None:
    assert column_names(["1", "2"], has_header=False) == (["column_1", "column_2"], [])


def test_excel_separator_hint_and_leading_blank_lines() -> None:
    dialect = sniff("sep=;\n\na;b\n1;2\n", at_end=True, fmt="csv")
    assert dialect.delimiter == ";"
    assert dialect.skip_lines == 1  # the hint; blank lines are no records anyway
    assert dialect.columns == ["a", "b"]


def test_a_cut_sample_ignores_its_partial_last_line() -> None:
    dialect = sniff("a,b,c\n1,2,3\n4,5", at_end=False, fmt="csv")
    assert dialect.columns == ["a", "b", "c"]
    assert dialect.warnings == []


def test_ragged_rows_are_left_to_the_reader() -> None:
    dialect = sniff("a,b\n1,2\n3,4,5\n", at_end=True, fmt="csv")
    assert (dialect.delimiter, dialect.columns, dialect.warnings) == (",", ["a", "b"], [])


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_rows_ending_in_a_delimiter_split_consistently(delimiter: str) -> None:
    sample = "".join(delimiter.join(row) + "\n" for row in [["id", "name"], ["1", "a", ""], ["2", "b", "", ""]])
    assert detect_delimiter(sample, min_consistency=0.9) == delimiter
    assert sniff(sample, at_end=True, fmt="txt").columns == ["id", "name"]


def test_a_quote_left_open_at_the_end_is_malformed() -> None:
    with pytest.raises(MalformedCsv, match="never closed"):
        sniff('a,"b\n1,2\n', at_end=True, fmt="csv")
    # A cut sample may end inside a quoted value; only the whole file can tell.
    assert sniff('a,b\n1,"multi\nline', at_end=False, fmt="csv").columns == ["a", "b"]
