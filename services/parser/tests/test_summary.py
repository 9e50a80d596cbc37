import polars as pl
import pytest

from ferry_core.events import ColumnInfo
from ferry_parser.chunks import Chunk
from ferry_parser.errors import EmptyFile
from ferry_parser.formats import DocumentHeader, TableHeader
from ferry_parser.stats import ColumnStats
from ferry_parser.summary import SummaryBuilder

COLUMNS = [ColumnInfo(name="a", type="integer")]


def rows(part: str, count: int, seq: int = 0) -> Chunk:
    return Chunk.encode("f", part, seq, 0, "rows", [[1]] * count)


def test_single_table() -> None:
    builder = SummaryBuilder("csv")
    builder.start(TableHeader(columns=COLUMNS, rows_total=5, metadata={"delimiter": ","}, warnings=["w"]))
    builder.count(rows("", 3))
    assert (builder.done, builder.total) == (3, 5)
    builder.count(rows("", 2, seq=1))
    stats = ColumnStats(COLUMNS)
    stats.observe(pl.DataFrame({"a": [1] * 5}))
    summary = builder.build(["extra"], stats={"": stats})
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
    builder.count(Chunk.encode("f", "pages", 0, 0, "pages", [{"number": 1, "text": "{}"}]))
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


def stats_of(columns: list[ColumnInfo], *frames: pl.DataFrame) -> ColumnStats:
    stats = ColumnStats(columns)
    for frame in frames:
        stats.observe(frame)
    return stats


def test_column_statistics_over_every_batch() -> None:
    names = [c.name for c in STATS_COLUMNS]
    first = pl.DataFrame(
        [[3, 1.5, "2024-02-01", "2024-02-01T10:00:00", True, "b"], [None, None, None, None, None, None]],
        schema=names,
        orient="row",
    )
    second = pl.DataFrame(
        [
            [-7, 2.25, "2023-12-31", "2024-02-01T09:59:59.5", False, "a"],
            [10, float("nan"), "2024-01-15", None, True, None],
        ],
        schema=names,
        orient="row",
    )
    stats = {c.name: (c.type, c.nulls, c.min, c.max) for c in stats_of(STATS_COLUMNS, first, second).columns()}
    assert stats == {
        "n": ("integer", 1, -7, 10),
        "x": ("float", 1, 1.5, 2.25),  # NaN is a value (not null) but has no place in an order
        "day": ("date", 1, "2023-12-31", "2024-02-01"),
        "at": ("datetime", 2, "2024-02-01T09:59:59.5", "2024-02-01T10:00:00"),
        "ok": ("boolean", 1, None, None),
        "name": ("string", 2, None, None),
    }


def test_each_sheet_has_its_own_statistics() -> None:
    builder = SummaryBuilder("xlsx")
    builder.start(TableHeader(columns=COLUMNS, part="One"))
    builder.start(TableHeader(columns=COLUMNS, part="Two"))
    builder.count(rows("One", 3))
    builder.count(rows("Two", 1))
    stats = {
        "One": stats_of(COLUMNS, pl.DataFrame({"a": [1, None, 5]})),
        "Two": stats_of(COLUMNS, pl.DataFrame({"a": [-2]})),
    }
    summary = builder.build(stats=stats)
    assert [(s.name, s.columns[0].nulls, s.columns[0].min, s.columns[0].max) for s in summary.sheets] == [
        ("One", 1, 1, 5),
        ("Two", 0, -2, -2),
    ]
    assert summary.columns[0].min == 1  # the first sheet's


def test_an_empty_table_has_null_counts_and_no_range() -> None:
    builder = SummaryBuilder("csv")
    builder.start(TableHeader(columns=COLUMNS))
    assert builder.build(stats={"": ColumnStats(COLUMNS)}).columns == [ColumnInfo(name="a", type="integer", nulls=0)]


def test_statistics_tolerate_odd_batches() -> None:
    stats = stats_of(STATS_COLUMNS[:3], pl.DataFrame({"n": [1, 2], "x": [0.5, 1.0]}))  # a narrower batch
    n, x, day = stats.columns()
    assert (n.nulls, n.min, n.max, x.min, x.max) == (0, 1, 2, 0.5, 1.0)
    assert (day.nulls, day.min) == (2, None)  # a batch without the column holds no value of it
    stats.observe(pl.DataFrame({"n": ["text"], "x": [2.0], "day": ["2024-01-01"]}))
    n, x, day = stats.columns()
    assert (n.min, n.max) == (None, None)  # values that do not compare across batches give no range
    assert (x.max, day.min, day.max) == (2.0, "2024-01-01", "2024-01-01")
    stats.observe(pl.DataFrame({"n": [[1, 2]], "x": [None], "day": [None]}, schema_overrides={"x": pl.Float64}))
    assert stats.columns()[0].min is None
