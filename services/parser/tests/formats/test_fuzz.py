"""Random and mutated bytes never crash a reader: each one returns content or raises ParseError."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferry_parser.errors import ParseError, Retype
from ferry_parser.formats import READERS, Item, ReadOptions

FIXTURES = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "formats"
SEEDS: dict[str, bytes] = {
    "csv": 'id,name,when\n1,Zoë,2024-01-02\n2,"a, b",2023-12-31\n'.encode(),
    "tsv": b"a\tb\n1\t2\n",
    "txt": b"Some prose.\n\nAnother paragraph.\n",
    "json": b'[{"a": 1, "b": [1, 2]}, {"a": 2, "b": null}]',
    "jsonl": b'{"a": 1}\n{"a": 2}\n',
}
for fixture in FIXTURES.glob("*"):
    SEEDS.setdefault(fixture.suffix.lstrip("."), fixture.read_bytes())

TIME_BOUND_SECONDS = 10.0


def run_reader(fmt: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "input"
        path.write_bytes(data)
        options = ReadOptions(format=fmt, workdir=Path(work), batch_rows=1000)
        started = time.monotonic()
        try:
            try:
                consume(READERS[fmt](path, options))
            except Retype:  # the worker's restart: typed from every row, which never raises it again
                consume(READERS[fmt](path, dataclasses.replace(options, types_from_all_rows=True)))
        except ParseError:
            pass
        assert time.monotonic() - started < TIME_BOUND_SECONDS, f"{fmt} reader took too long"


def consume(items: Iterator[Item]) -> None:
    for item in items:
        if isinstance(item, pl.DataFrame):
            item.rows()  # values must be materialisable


def mutate(seed: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(seed)
    for position, value in edits:
        if data:
            data[position % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


FORMATS = sorted(READERS)
fuzz_settings = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fuzz_settings
@given(fmt=st.sampled_from(FORMATS), data=st.binary(max_size=4096))
def test_random_bytes(fmt: str, data: bytes) -> None:
    run_reader(fmt, data)


@fuzz_settings
@given(
    fmt=st.sampled_from(FORMATS),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)), max_size=16),
    cut=st.none() | st.integers(min_value=0, max_value=20_000),
)
def test_mutated_real_files(fmt: str, edits: list[tuple[int, int]], cut: int | None) -> None:
    seed = SEEDS.get(fmt)
    if seed is None:
        seed = SEEDS["csv"]
    run_reader(fmt, mutate(seed, edits, cut))
