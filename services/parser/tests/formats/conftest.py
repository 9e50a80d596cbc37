"""``read(data, fmt)``: run a format's reader over bytes and collect what it yields."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from ferry_parser.errors import Retype
from ferry_parser.formats import DocumentHeader, Header, Page, Pages, ReadOptions, TableHeader, reader_for


@dataclass
class Result:
    headers: list[Header] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    pages: list[tuple[int, str]] = field(default_factory=list)
    full_pages: list[Page] = field(default_factory=list)
    """The pages as yielded, with their tables and blocks."""
    batches: int = 0
    retyped: bool = False
    """Whether the first rows' types did not fit a later row, so that the file was read again (``Retype``)."""

    @property
    def table(self) -> TableHeader:
        header = self.headers[0]
        assert isinstance(header, TableHeader)
        return header

    @property
    def document(self) -> DocumentHeader:
        header = self.headers[0]
        assert isinstance(header, DocumentHeader)
        return header

    @property
    def types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.table.columns}


Read = Callable[..., Result]


@pytest.fixture
def read(tmp_path: Path) -> Read:
    def run(data: bytes, fmt: str, *, batch_rows: int = 20_000, max_text_bytes: int = 1_000_000, **more: Any) -> Result:
        """``more``: other ``ReadOptions`` fields (``max_pages``...)."""
        path = tmp_path / f"input.{fmt}"
        path.write_bytes(data)
        workdir = tmp_path / "work"
        workdir.mkdir(exist_ok=True)
        options = ReadOptions(format=fmt, workdir=workdir, batch_rows=batch_rows, max_text_bytes=max_text_bytes, **more)
        try:
            return collect(path, options, Result())
        except Retype:  # as the worker does: everything so far is void, read again typed from every row
            return collect(path, dataclasses.replace(options, types_from_all_rows=True), Result(retyped=True))

    return run


def collect(path: Path, options: ReadOptions, result: Result) -> Result:
    for item in reader_for(options.format)(path, options):
        if isinstance(item, pl.DataFrame):
            result.rows.extend(list(row) for row in item.rows())
            result.batches += 1
        elif isinstance(item, Pages):
            result.pages.extend((p.number, p.text) for p in item.pages)
            result.full_pages.extend(item.pages)
        else:
            result.headers.append(item)
    return result
