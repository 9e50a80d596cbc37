"""A file read back by the parser's own readers: ``parse`` (a table's columns and rows), ``parse_pages``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from ferry_core.events import ColumnInfo
from ferry_parser.chunks import page_item
from ferry_parser.formats import Pages, ReadOptions, TableHeader, reader_for


def parse(path: Path, fmt: str, workdir: Path) -> tuple[list[ColumnInfo], list[list[Any]]]:
    """The first table of ``path`` as the parser stores it."""
    workdir.mkdir(exist_ok=True)
    columns: list[ColumnInfo] | None = None
    rows: list[list[Any]] = []
    for item in reader_for(fmt)(path, ReadOptions(format=fmt, workdir=workdir)):
        if isinstance(item, TableHeader):
            if columns is not None:
                break
            columns = item.columns
        elif isinstance(item, pl.DataFrame):
            rows.extend(list(row) for row in item.rows())
    assert columns is not None
    return columns, rows


def parse_pages(path: Path, fmt: str, workdir: Path) -> list[dict[str, Any]]:
    """The pages of ``path`` as ``parsed_chunks`` stores them."""
    workdir.mkdir(exist_ok=True)
    return [
        page_item(page)
        for item in reader_for(fmt)(path, ReadOptions(format=fmt, workdir=workdir))
        if isinstance(item, Pages)
        for page in item.pages
    ]
