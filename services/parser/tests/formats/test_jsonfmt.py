import json

import pytest

from ferry_parser.errors import EmptyFile, MalformedJson

from .conftest import Read


def test_array_of_objects_is_a_table(read: Read) -> None:
    records = [
        {"id": 1, "name": "a", "score": 1.5, "ok": True, "when": "2024-01-31", "tags": ["x", "y"]},
        {"id": 2, "name": "b", "score": 2, "ok": False, "when": "2024-02-01", "meta": {"k": 1}},
    ]
    result = read(json.dumps(records, indent=2).encode(), "json")
    assert result.types == {
        "id": "integer",
        "name": "string",
        "score": "float",
        "ok": "boolean",
        "when": "date",
        "tags": "string",
        "meta": "string",
    }
    assert result.rows == [
        [1, "a", 1.5, True, "2024-01-31", '["x","y"]', None],
        [2, "b", 2.0, False, "2024-02-01", None, '{"k":1}'],
    ]
    assert result.table.metadata == {"encoding": "utf-8", "json_type": "array"}
    assert result.table.rows_total == 2


def test_keys_appearing_late_still_become_columns(read: Read) -> None:
    records = [{"a": i} for i in range(300)] + [{"a": "text", "late": "2024-01-01T00:00:00Z"}]
    result = read(json.dumps(records).encode(), "json", batch_rows=50)
    assert result.types == {"a": "string", "late": "datetime"}
    assert result.rows[-1] == ["text", "2024-01-01T00:00:00Z"]
    assert len(result.rows) == 301


def test_empty_array(read: Read) -> None:
    result = read(b" [ ] ", "json")
    assert result.table.columns == []
    assert result.table.rows_total == 0
    assert result.table.warnings == ["The JSON array is empty."]


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        ({"a": {"b": [1, 2]}, "c": None}, {"json_type": "object", "depth": 3, "keys": ["a", "c"], "key_count": 2}),
        ([1, "two", None], {"json_type": "array", "depth": 1, "length": 3, "item_types": ["null", "number", "string"]}),
        ([{"a": 1}, 2], {"json_type": "array", "depth": 2, "length": 2, "item_types": ["number", "object"]}),
        ("just a string", {"json_type": "string", "depth": 0}),
    ],
)
def test_other_json_is_a_document(read: Read, value: object, shape: dict[str, object]) -> None:
    result = read(json.dumps(value).encode(), "json")
    assert result.document.kind == "document"
    assert result.document.metadata == {"encoding": "utf-8", **shape}
    assert result.pages == [(1, json.dumps(value, indent=2))]


def test_a_large_document_page_is_cut(read: Read) -> None:
    result = read(json.dumps({"text": "x" * 5000}).encode(), "json", max_text_bytes=2000)
    assert len(result.pages[0][1]) == 1000
    assert result.document.warnings


@pytest.mark.parametrize(
    "data",
    [b'{"a": 1,}', b'[{"a": 1}, {"a": 2}', b'[{"a": 1} {"a": 2}]', b'[{"a": 1}] trailing', b"{'a': 1}"],
)
def test_malformed_json(read: Read, data: bytes) -> None:
    with pytest.raises(MalformedJson, match="not valid JSON"):
        read(data, "json")


def test_empty_json(read: Read) -> None:
    with pytest.raises(EmptyFile):
        read(b"  \n", "json")


def test_jsonl_is_a_table(read: Read) -> None:
    data = b'{"a": 1, "b": "2024-01-01T10:00:00"}\n\n{"a": 2, "c": [1]}\n{"a": null}\n'
    result = read(data, "jsonl")
    assert result.types == {"a": "integer", "b": "datetime", "c": "string"}
    assert result.rows == [[1, "2024-01-01T10:00:00", None], [2, None, "[1]"], [None, None, None]]
    assert result.table.metadata == {"encoding": "utf-8"}


def test_jsonl_with_nested_and_plain_values_under_one_key(read: Read) -> None:
    for data in (b'{"v": {"x": 1}}\n{"v": 5}\n{"v": "s"}\n', b'{"v": {"x": 1}}\n{"v": 5}\n'):
        result = read(data, "jsonl")
        assert result.types == {"v": "string"}
        assert json.loads(result.rows[0][0]) == {"x": 1}
        assert result.rows[1] == ["5"]


def test_jsonl_bad_line_is_named(read: Read) -> None:
    with pytest.raises(MalformedJson, match="Line 3 is not valid JSON"):
        read(b'{"a": 1}\n{"a": 2}\n{"a": 3,}\n', "jsonl")


def test_jsonl_line_that_is_not_an_object(read: Read) -> None:
    with pytest.raises(MalformedJson, match="Line 2 is not a JSON object"):
        read(b'{"a": 1}\n[1, 2]\n', "jsonl")


def test_jsonl_in_latin1(read: Read) -> None:
    result = read('{"name": "José"}\n'.encode("latin-1"), "jsonl")
    assert result.rows == [["José"]]
    assert result.table.metadata["encoding"] in ("cp1252", "latin-1")
