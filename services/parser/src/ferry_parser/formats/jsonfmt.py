"""JSON and JSON Lines.

- ``jsonl``: one object per line → a table (keys → columns, in order of first appearance).
- ``json``: an array of objects → the same table; the array is split into JSON
  Lines as it streams, so memory stays bounded. Any other JSON (an object, an
  array of anything else, a scalar) is a ``document``: one page holding the
  pretty-printed value (cut at the page limit) and its shape in the metadata.

Nested values become compact JSON text in string columns. Strings that are all
dates or datetimes are typed as such.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ferry_core.events import ColumnInfo
from ferry_parser.errors import MalformedJson, ParseError
from ferry_parser.formats import text
from ferry_parser.formats.base import DocumentHeader, Item, Page, Pages, Reader, ReadOptions, TableHeader
from ferry_parser.formats.inference import (
    DATE_CANDIDATES,
    DATETIME_CANDIDATES,
    TypeInference,
    convert,
    storable,
    type_of_dtype,
)
from ferry_parser.formats.jsonsplit import NotRecords, split_array

INFER_BATCH_ROWS = 50_000
_SHAPE_KEYS = 100


def _json_errors(reader: Reader) -> Reader:
    """Turn what Python's and polars' JSON machinery raise on hostile input into plain ``MalformedJson``."""

    @functools.wraps(reader)
    def guarded(path: Path, options: ReadOptions) -> Iterator[Item]:
        try:
            yield from reader(path, options)
        except RecursionError:
            raise MalformedJson("The JSON is nested too deeply to read.") from None
        except ValueError as exc:
            if "digits" not in str(exc):  # int() refuses integers longer than sys.get_int_max_str_digits()
                raise
            raise MalformedJson(
                f"The JSON holds a number with more than {sys.get_int_max_str_digits()} digits, which is not accepted."
            ) from None

    return guarded


@_json_errors
def read_jsonl(path: Path, options: ReadOptions) -> Iterator[Item]:
    encoding = _check_text(path)
    source = text.utf8_path(path, encoding, options.workdir)
    yield from _read_records(source, options, {"encoding": encoding})


@_json_errors
def read_json(path: Path, options: ReadOptions) -> Iterator[Item]:
    encoding = _check_text(path)
    sample, _ = text.read_sample(path, encoding, size=4096)
    metadata: dict[str, Any] = {"encoding": encoding}
    if sample.lstrip().startswith("["):
        records = options.workdir / "records.jsonl"
        try:
            count = split_array(path, encoding, records)
        except NotRecords:
            pass  # an array, but not of objects: a document
        else:
            metadata["json_type"] = "array"
            if count == 0:
                yield TableHeader(columns=[], rows_total=0, metadata=metadata, warnings=["The JSON array is empty."])
                return
            yield from _read_records(records, options, metadata)
            return
    yield from _read_document(path, encoding, options, metadata)


def _check_text(path: Path) -> str:
    encoding = text.detect_encoding(path)
    sample, at_end = text.read_sample(path, encoding)
    text.require_content(sample, at_end)
    return encoding


# -- records (a table) ------------------------------------------------------------


@dataclass(frozen=True)
class _TablePlan:
    source: Path
    header: TableHeader
    conversions: list[pl.Expr]


def _read_records(source: Path, options: ReadOptions, metadata: dict[str, Any]) -> Iterator[Item]:
    try:
        plan = _plan_table(source, metadata)
    except pl.exceptions.PolarsError:
        # Polars wants one type per key: mixed nested and plain values (or a bad line) stop it.
        flattened = options.workdir / f"{source.name}.flat"
        _flatten_records(source, flattened)
        try:
            plan = _plan_table(flattened, metadata)
        except pl.exceptions.PolarsError as exc:
            raise _records_error(exc) from exc
    yield plan.header
    try:
        for batch in _scan(plan.source).collect_batches(chunk_size=options.batch_rows):
            yield batch.select(plan.conversions)
    except pl.exceptions.PolarsError as exc:
        raise _records_error(exc) from exc


def _records_error(exc: Exception) -> ParseError:
    """A message for people: polars' own wording (tape errors, internal names) stays in the logs."""
    detail = _first_line(exc)
    if "TapeError" in detail or "InvalidNumber" in detail:
        return MalformedJson("The JSON records hold a number that cannot be read (too large or out of range).")
    if "Error(" in detail or "Error:" in detail:
        return ParseError("The JSON records could not be read as a table: their values do not fit one column type.")
    return ParseError(f"The JSON records could not be read as a table: {detail}")


def _plan_table(source: Path, metadata: dict[str, Any]) -> _TablePlan:
    """Read every record once: the schema, the row count, and the types of the string columns."""
    scan = _scan(source)
    schema = scan.collect_schema()
    strings = [name for name, dtype in schema.items() if dtype == pl.String]
    inference = TypeInference(strings, (*DATE_CANDIDATES, *DATETIME_CANDIDATES))
    rows_total = 0
    for batch in scan.collect_batches(chunk_size=INFER_BATCH_ROWS):
        rows_total += batch.height
        if strings:
            inference.observe(batch.select(strings))
    text_types = inference.result()
    columns = [
        ColumnInfo(name=name, type=text_types[name].type if name in text_types else type_of_dtype(dtype))
        for name, dtype in schema.items()
    ]
    conversions = [
        convert(name, text_types[name]) if name in text_types else storable(name, dtype)
        for name, dtype in schema.items()
    ]
    header = TableHeader(columns=columns, rows_total=rows_total, metadata=dict(metadata))
    return _TablePlan(source, header, conversions)


def _scan(source: Path) -> pl.LazyFrame:
    return pl.scan_ndjson(source, infer_schema_length=None)


def _flatten_records(source: Path, target: Path) -> None:
    """Rewrite the records with nested values as JSON text; a line that is not an object is an error."""
    with source.open(encoding="utf-8") as lines, target.open("w", encoding="utf-8") as out:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise MalformedJson(f"Line {number} is not valid JSON: {exc.msg} (column {exc.colno}).") from None
            if not isinstance(record, dict):
                raise MalformedJson(f"Line {number} is not a JSON object; every line must hold one object.")
            flat = {key: _as_text(value) for key, value in record.items()}
            out.write(json.dumps(flat, ensure_ascii=False) + "\n")


def _as_text(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if isinstance(value, dict | list) else value


# -- any other JSON (a document) -------------------------------------------------------


def _read_document(path: Path, encoding: str, options: ReadOptions, metadata: dict[str, Any]) -> Iterator[Item]:
    with path.open(encoding=encoding) as source:
        try:
            value = json.load(source)
        except json.JSONDecodeError as exc:
            raise MalformedJson(
                f"The file is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        except RecursionError:
            raise MalformedJson("The JSON is nested too deeply to read.") from None
    header = DocumentHeader(kind="document", pages_total=1, metadata={**metadata, **describe_shape(value)})
    pretty = json.dumps(value, ensure_ascii=False, indent=2)
    limit = max(options.max_text_bytes // 2, 1)  # characters, leaving room for multi-byte ones
    if len(pretty) > limit:
        pretty = pretty[:limit]
        header.warnings.append(f"The document is large; its page shows the first {limit} characters.")
    yield header
    yield Pages([Page(number=1, text=pretty)])


def describe_shape(value: Any) -> dict[str, Any]:
    """What a JSON value looks like: its type, depth, and its keys or length."""
    shape: dict[str, Any] = {"json_type": _json_type(value), "depth": _depth(value)}
    if isinstance(value, dict):
        shape["keys"] = list(value)[:_SHAPE_KEYS]
        shape["key_count"] = len(value)
    elif isinstance(value, list):
        shape["length"] = len(value)
        shape["item_types"] = sorted({_json_type(item) for item in value})
    return shape


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def _depth(value: Any) -> int:
    """How many containers deep the value goes (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level + 1)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def _first_line(exc: Exception) -> str:
    detail = str(exc).strip()
    return detail.splitlines()[0][:300] if detail else type(exc).__name__
