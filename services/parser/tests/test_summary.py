import pytest

from ferry_core.events import ColumnInfo
from ferry_parser.chunks import Chunk
from ferry_parser.errors import EmptyFile
from ferry_parser.formats import DocumentHeader, TableHeader
from ferry_parser.summary import SummaryBuilder

COLUMNS = [ColumnInfo(name="a", type="integer")]


def rows(part: str, count: int, seq: int = 0) -> Chunk:
    return Chunk(part=part, seq=seq, start=0, field="rows", items=[[1]] * count)


def test_single_table() -> None:
    builder = SummaryBuilder("csv")
    builder.start(TableHeader(columns=COLUMNS, rows_total=5, metadata={"delimiter": ","}, warnings=["w"]))
    builder.count(rows("", 3))
    assert (builder.done, builder.total) == (3, 5)
    builder.count(rows("", 2, seq=1))
    summary = builder.build(["extra"])
    assert summary.kind == "table"
    assert summary.rows == 5
    assert summary.columns == COLUMNS
    assert summary.sheets == []
    assert summary.metadata == {"format": "csv", "delimiter": ","}
    assert summary.warnings == ["w", "extra"]


def test_named_parts_become_sheets() -> None:
    builder = SummaryBuilder("xlsx")
    builder.start(TableHeader(columns=COLUMNS, part="One", rows_total=2))
    builder.count(rows("One", 2))
    builder.start(TableHeader(columns=[], part="Two", rows_total=None))
    summary = builder.build()
    assert builder.total is None
    assert summary.rows == 2
    assert [(s.name, s.rows) for s in summary.sheets] == [("One", 2), ("Two", 0)]


def test_document() -> None:
    builder = SummaryBuilder("json")
    builder.start(DocumentHeader(kind="document", pages_total=1, metadata={"json_type": "object"}))
    builder.count(Chunk(part="pages", seq=0, start=0, field="pages", items=[{"number": 1, "text": "{}"}]))
    summary = builder.build()
    assert (summary.kind, summary.pages, summary.rows) == ("document", 1, 0)
    assert summary.metadata == {"format": "json", "json_type": "object"}


def test_nothing_read_is_an_empty_file() -> None:
    with pytest.raises(EmptyFile):
        SummaryBuilder("csv").build()
