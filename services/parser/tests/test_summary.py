import pytest

from ferry_core.events import ColumnInfo
from ferry_parser.chunks import Chunk
from ferry_parser.errors import EmptyFile
from ferry_parser.formats import DocumentHeader, TableHeader
from ferry_parser.summary import ColumnStats, SummaryBuilder

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
    assert summary.columns == [ColumnInfo(name="a", type="integer", nulls=0, min=1, max=1)]
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


STATS_COLUMNS = [
    ColumnInfo(name="n", type="integer"),
    ColumnInfo(name="x", type="float"),
    ColumnInfo(name="day", type="date"),
    ColumnInfo(name="at", type="datetime"),
    ColumnInfo(name="ok", type="boolean"),
    ColumnInfo(name="name", type="string"),
]


def test_column_statistics_over_every_chunk() -> None:
    builder = SummaryBuilder("csv")
    builder.start(TableHeader(columns=STATS_COLUMNS))
    first = [
        [3, 1.5, "2024-02-01", "2024-02-01T10:00:00", True, "b"],
        [None, None, None, None, None, None],
    ]
    second = [
        [-7, 2.25, "2023-12-31", "2024-02-01T09:59:59.5", False, "a"],
        [10, None, "2024-01-15", None, True, None],
    ]
    builder.count(Chunk(part="", seq=0, start=0, field="rows", items=first))
    builder.count(Chunk(part="", seq=1, start=2, field="rows", items=second))
    stats = {c.name: (c.type, c.nulls, c.min, c.max) for c in builder.build().columns}
    assert stats == {
        "n": ("integer", 1, -7, 10),
        "x": ("float", 2, 1.5, 2.25),
        "day": ("date", 1, "2023-12-31", "2024-02-01"),
        "at": ("datetime", 2, "2024-02-01T09:59:59.5", "2024-02-01T10:00:00"),
        "ok": ("boolean", 1, None, None),
        "name": ("string", 2, None, None),
    }


def test_each_sheet_has_its_own_statistics() -> None:
    builder = SummaryBuilder("xlsx")
    builder.start(TableHeader(columns=COLUMNS, part="One"))
    builder.start(TableHeader(columns=COLUMNS, part="Two"))
    builder.count(Chunk(part="One", seq=0, start=0, field="rows", items=[[1], [None], [5]]))
    builder.count(Chunk(part="Two", seq=0, start=0, field="rows", items=[[-2]]))
    summary = builder.build()
    assert [(s.name, s.columns[0].nulls, s.columns[0].min, s.columns[0].max) for s in summary.sheets] == [
        ("One", 1, 1, 5),
        ("Two", 0, -2, -2),
    ]
    assert summary.columns[0].min == 1  # the first sheet's


def test_an_empty_table_has_null_counts_and_no_range() -> None:
    builder = SummaryBuilder("csv")
    builder.start(TableHeader(columns=COLUMNS))
    assert builder.build().columns == [ColumnInfo(name="a", type="integer", nulls=0)]


def test_statistics_tolerate_odd_rows() -> None:
    stats = ColumnStats(STATS_COLUMNS[:3])
    stats.observe([[1, float("nan")], [2, 0.5, "2024-01-01", "beyond the columns"], ["text", 1.0, None]])
    n, x, day = stats.columns()
    assert (n.nulls, n.min, n.max) == (0, None, None)  # values that do not compare give no range
    assert (x.nulls, x.min, x.max) == (0, 0.5, 1.0)  # NaN is no value to order
    assert (day.nulls, day.min, day.max) == (2, "2024-01-01", "2024-01-01")  # a short row misses values
    stats.observe([[5, None, None]])
    assert stats.columns()[0].min is None
