import json
from pathlib import Path

import pytest

from ferry_parser.errors import MalformedJson
from ferry_parser.formats import jsonsplit
from ferry_parser.formats.jsonsplit import NotRecords, split_array


def split(tmp_path: Path, text: str) -> list[dict[str, object]]:
    source = tmp_path / "in.json"
    source.write_text(text, encoding="utf-8")
    target = tmp_path / "out.jsonl"
    count = split_array(source, "utf-8", target)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == count
    return [json.loads(line) for line in lines]


def test_pretty_printed_objects_become_lines(tmp_path: Path) -> None:
    records = [{"a": 1, "text": "with ] and , and { inside", "nested": {"x": [1, 2]}}, {"b": "line\nbreak"}]
    assert split(tmp_path, json.dumps(records, indent=4)) == records


def test_elements_crossing_block_boundaries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonsplit, "_BLOCK", 7)
    records = [{"id": i, "name": "x" * (i % 13)} for i in range(200)]
    assert split(tmp_path, json.dumps(records)) == records


def test_array_of_other_things_is_not_records(tmp_path: Path) -> None:
    with pytest.raises(NotRecords):
        split(tmp_path, '[{"a": 1}, 2]')
    with pytest.raises(NotRecords):
        split(tmp_path, "[[1, 2]]")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[{"a": 1}', "never closed"),
        ('[{"a": 1} {"b": 2}]', "expected ','"),
        ('[{"a": 1},\n{"a": }]', "line 2"),
        ("[] []", "after the array"),
    ],
)
def test_malformed(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(MalformedJson, match=reason):
        split(tmp_path, text)
