import math
from datetime import UTC, date, datetime

import polars as pl
import pytest

from ferry_parser.formats.inference import (
    TEXT_CANDIDATES,
    ColumnType,
    TypeInference,
    convert,
    fits,
    infer_types,
    storable_all,
    type_of_dtype,
)


def frame(**columns: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def typed(values: list[str | None]) -> str:
    return infer_types(frame(v=values))["v"].type


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", " 3 ", "+4"], "integer"),
        (["1", "2.5", "1e3", "-0.5"], "float"),
        (["1.5", "NaN", "inf"], "float"),
        (["true", "False", "TRUE"], "boolean"),
        (["2024-01-31", "2024-02-01"], "date"),
        (["31/01/2024", "01/02/2024"], "date"),
        (["01/31/2024", "02/28/2024"], "date"),
        (["31.01.2024"], "date"),
        (["2024-01-31T10:00:00", "2024-01-31 10:00", "2024-01-31T10:00:00.250"], "datetime"),
        (["2024-01-31T10:00:00Z", "2024-01-31T10:00:00+02:00"], "datetime"),
        (["1", "x"], "string"),
        (["007", "012"], "string"),  # identifiers keep their leading zeros
        (["2024-01-31", "yesterday"], "string"),
        ([None, "", "  "], "string"),
        (["1", "NA", "n/a", "", None, "-", "NULL"], "integer"),
        (["0", "1", "0"], "integer"),
    ],
)
def test_infer_text_types(values: list[str | None], expected: str) -> None:
    assert typed(values) == expected


def test_decimal_comma_is_a_candidate_only_when_allowed() -> None:
    values = frame(v=["1,5", "2,25"])
    assert infer_types(values)["v"] == ColumnType("float", ",")
    without = tuple(c for c in TEXT_CANDIDATES if c != ColumnType("float", ","))
    assert infer_types(values, without)["v"].type == "string"


def test_a_later_batch_can_contradict_an_earlier_one() -> None:
    inference = TypeInference(["n", "d"])
    inference.observe(frame(n=["1", "2"], d=["2024-01-01", "2024-01-02"]))
    assert inference.result() == {"n": ColumnType("integer"), "d": ColumnType("date", "%Y-%m-%d")}
    inference.observe(frame(n=["3.5", None], d=["2024-01-03", "soon"]))
    assert inference.result() == {"n": ColumnType("float"), "d": ColumnType("string")}


def test_ambiguous_dates_read_day_first_until_a_value_says_otherwise() -> None:
    assert typed(["01/02/2024", "03/04/2024"]) == "date"
    assert infer_types(frame(v=["01/02/2024"]))["v"].format == "%d/%m/%Y"
    assert infer_types(frame(v=["01/02/2024", "12/31/2024"]))["v"].format == "%m/%d/%Y"


def test_conversions_give_storable_values() -> None:
    data = frame(
        i=[" 1", "NA", "-3"],
        f=["1.5", "NaN", "-inf"],
        b=["TRUE", None, "false"],
        d=["31/01/2024", "", "01/02/2024"],
        t=["2024-01-31T10:00:00+02:00", "2024-01-31 10:00", "2024-01-31T10:00:00.5Z"],
        s=[" keep ", "NA", None],
    )
    types = infer_types(data)
    out = data.select(convert(name, t) for name, t in types.items())
    assert out.to_dict(as_series=False) == {
        "i": [1, None, -3],
        "f": [1.5, None, None],
        "b": [True, None, False],
        "d": ["2024-01-31", None, "2024-02-01"],
        "t": ["2024-01-31T08:00:00Z", "2024-01-31T10:00:00", "2024-01-31T10:00:00.500000Z"],
        "s": [" keep ", "NA", None],
    }


def test_fits_one_value() -> None:
    assert fits("12", ColumnType("integer"))
    assert not fits("id", ColumnType("integer"))
    assert fits("2024-01-01", ColumnType("date", "%Y-%m-%d"))
    assert fits("anything", ColumnType("string"))


def test_native_columns_become_storable() -> None:
    data = pl.DataFrame(
        {
            "i": [1, None],
            "f": [math.nan, 2.5],
            "b": [True, None],
            "d": [date(2024, 1, 31), None],
            "naive": [datetime(2024, 1, 31, 10, 0), None],
            "aware": [datetime(2024, 1, 31, 10, 0, tzinfo=UTC), None],
            "struct": [{"x": 1, "y": "a"}, None],
            "list": [[1, 2], None],
            "null": [None, None],
        }
    )
    out = data.select(storable_all(data.schema.items()))
    assert out.rows() == [
        (1, None, True, "2024-01-31", "2024-01-31T10:00:00", "2024-01-31T10:00:00Z", '{"x":1,"y":"a"}', "[1,2]", None),
        (None, 2.5, None, None, None, None, None, None, None),
    ]
    assert [type_of_dtype(dtype) for dtype in data.dtypes] == [
        "integer",
        "float",
        "boolean",
        "date",
        "datetime",
        "datetime",
        "string",
        "string",
        "string",
    ]
