"""The layout's bulk measuring of plain pieces gives exactly what the csv module's record-by-record reading gives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferry_parser.errors import LineTooLong, MalformedCsv
from ferry_parser.formats import layout
from ferry_parser.formats.dialect import Dialect

VALUES = st.sampled_from(
    ["", "1", "x", " ", "  ", "é", '"q"', '"a,b"', '"x""y"', '""', '"multi\nline"', 'in"side', "a\r"]
)
DELIMITERS = st.sampled_from([",", ";", "\t", "|"])


def lines_of(delimiter: str) -> st.SearchStrategy[list[list[str]]]:
    return st.lists(st.lists(VALUES, min_size=0, max_size=6), min_size=0, max_size=40)


def both(path: Path, dialect: Dialect) -> tuple[object, object]:
    outcomes = []
    for fast in (True, False):
        try:
            found = layout.scan(path, dialect, fast=fast)
            outcomes.append(dataclasses.asdict(found))
        except (LineTooLong, MalformedCsv) as exc:
            outcomes.append((type(exc).__name__, exc.message))
    return outcomes[0], outcomes[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    delimiter=DELIMITERS,
    rows=st.lists(st.lists(VALUES, max_size=6), max_size=40),
    header=st.booleans(),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    block_records=st.sampled_from([1, 3, 100_000]),
    block_bytes=st.sampled_from([16, 64, 8 * 1024 * 1024]),
)
def test_measured_pieces_match_the_csv_module(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    delimiter: str,
    rows: list[list[str]],
    header: bool,
    crlf: bool,
    final_newline: bool,
    block_records: int,
    block_bytes: int,
) -> None:
    monkeypatch.setattr(layout, "BLOCK_RECORDS", block_records)
    monkeypatch.setattr(layout, "BLOCK_BYTES", block_bytes)
    end = "\r\n" if crlf else "\n"
    text = end.join(delimiter.join(row) for row in [["a", "b", "c"], *rows])
    path = tmp_path / "data.csv"
    path.write_bytes((text + (end if final_newline else "")).encode())
    dialect = Dialect(delimiter, has_header=header, columns=["a", "b", "c"])
    fast, slow = both(path, dialect)
    assert fast == slow


def test_a_plain_file_is_measured_in_bulk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b'a,b\n1,"x, y"\n\n2\n3,4,5\n,,\n' * 1000)
    calls = []
    original = layout._Scanner.scan_block

    def spy(self: layout._Scanner, delimiter: str) -> bool:
        calls.append(self.offset)
        return original(self, delimiter)

    monkeypatch.setattr(layout._Scanner, "scan_block", spy)
    found = layout.scan(path, Dialect(",", has_header=True, columns=["a", "b"]))
    assert len(calls) == 1  # only at the end of the file
    assert found.records == 3999  # the header's line repeats as a record; blank lines are none
    assert found.ragged.short == 1000 and found.ragged.long == 1000 and found.extra == 1
    assert found.ragged.first_lines[:3] == [4, 5, 10]
