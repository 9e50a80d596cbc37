"""Documented read access to collections one service writes and another reads.

``parsed_documents`` / ``parsed_chunks`` are written by the parser and read by
the gateway's content API; ``files`` is written by the gateway and read by the
notifier for the current state of a file on subscribe and a file's top fields in webhook bodies
(``file_record``), and by the parser to
skip a file that was cancelled or deleted before its parse (``parse_abandoned``). The shapes below are
the contract; writers keep to them.

- ``parsed_documents``: ``{_id: file_id, owner_id, summary, duration_ms, parsed_at}``
- ``parsed_chunks``: ``{file_id, part, seq, start, count, rows | pages}``; ``part`` is the
  sheet name for tables (``""`` for a single table) or ``"pages"``; ``rows`` are value
  arrays in the sheet's column order; ``pages`` are ``{number, text}``, plus what the format has:
  ``tables`` and ``has_text`` (PDF; Word, Markdown and HTML have ``tables`` too) and ``blocks``
  (Word, Markdown, HTML only; other formats write none): the page's structure in reading order,
  each ``{type, level?, text?, rows?}`` with ``type`` one of ``heading`` (``level`` 1-9),
  ``paragraph``, ``list_item`` (``level`` = nesting depth, 1 = top), ``code``, ``quote`` (all
  with ``text``) and ``table`` (``rows``: lists of cell texts, ``null`` for a merged cell's
  continuation). ``text`` is then the blocks' plain text separated by blank lines. Unique on
  ``(file_id, part, seq)``, so rewriting a chunk is idempotent.
- ``files``: ``{_id: file_id, owner_id, filename, status, progress, stage, bytes_done, ...}``
  with the fields of ``Progress``; a record with ``deleting: true`` is gone for readers.
- ``api_key_projection``: written by the gateway's projection of auth's ``apikey.*`` events, read by
  the gateway and the notifier to check an ``X-API-Key`` (``ApiKeyReader``):
  ``{_id: key_id, key_hash, owner_id, role, name, prefix, revision, revoked, updated_at}``, looked up
  by ``key_hash`` (the key's SHA-256, indexed). A revoked key is a tombstone (``revoked: true``, no
  ``key_hash``), so no lookup finds it from the moment it is written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import ErrorInfo, FileStatus, Progress, Stage, Summary
from ferry_core.orgs import record_org
from ferry_core.secrets import secret_hash
from ferry_core.tokens import Principal

DOCUMENTS = "parsed_documents"
CHUNKS = "parsed_chunks"
FILES = "files"
API_KEYS = "api_key_projection"
PAGES_PART = "pages"
MAX_API_KEY_LENGTH = 256  # auth's keys are 47 characters; anything far longer is not worth hashing

Db = AsyncDatabase[dict[str, Any]]


async def ensure_parsed_indexes(db: Db) -> None:
    await db[CHUNKS].create_index([("file_id", ASCENDING), ("part", ASCENDING), ("seq", ASCENDING)], unique=True)
    await db[CHUNKS].create_index([("file_id", ASCENDING), ("part", ASCENDING), ("start", ASCENDING)])


@dataclass
class TablePage:
    columns: list[str]
    total: int
    rows: list[list[Any]]


@dataclass
class TextPage:
    total: int
    pages: list[dict[str, Any]]


class ParsedReadModel:
    def __init__(self, db: Db) -> None:
        self._documents = db[DOCUMENTS]
        self._chunks = db[CHUNKS]

    async def summary(self, file_id: str) -> Summary | None:
        doc = await self._documents.find_one({"_id": file_id}, {"summary": 1})
        return Summary.model_validate(doc["summary"]) if doc else None

    async def table_page(self, file_id: str, summary: Summary, sheet: str | None, offset: int, limit: int) -> TablePage:
        """Rows ``[offset, offset + limit)`` of one sheet; ``KeyError`` for an unknown sheet."""
        part, columns, total = _sheet(summary, sheet)
        rows = await self._slice(file_id, part, "rows", offset, limit)
        return TablePage(columns=columns, total=total, rows=rows)

    async def text_page(self, file_id: str, summary: Summary, offset: int, limit: int) -> TextPage:
        pages = await self._slice(file_id, PAGES_PART, "pages", offset, limit)
        return TextPage(total=summary.pages, pages=pages)

    async def iter_table(self, file_id: str, summary: Summary, sheet: str | None) -> AsyncIterator[list[list[Any]]]:
        """Every row of one sheet, chunk by chunk, in order (for exports)."""
        part, _, _ = _sheet(summary, sheet)
        async for values in self._iter_part(file_id, part, "rows"):
            yield values

    async def iter_pages(self, file_id: str) -> AsyncIterator[list[dict[str, Any]]]:
        async for values in self._iter_part(file_id, PAGES_PART, "pages"):
            yield values

    async def _iter_part(self, file_id: str, part: str, field: str) -> AsyncIterator[list[Any]]:
        cursor = self._chunks.find({"file_id": file_id, "part": part}, {field: 1}).sort("seq", ASCENDING)
        async for chunk in cursor:
            yield chunk.get(field, [])

    def columns_of(self, summary: Summary, sheet: str | None) -> list[str]:
        """The column names of one sheet; ``KeyError`` for an unknown sheet."""
        return _sheet(summary, sheet)[1]

    async def _slice(self, file_id: str, part: str, field: str, offset: int, limit: int) -> list[Any]:
        if limit <= 0:
            return []
        end = offset + limit
        # Chunks overlapping [offset, end): those starting before `end`, newest start <= offset first.
        first = await self._chunks.find_one(
            {"file_id": file_id, "part": part, "start": {"$lte": offset}},
            {"start": 1},
            sort=[("start", -1)],
        )
        lower = first["start"] if first else offset
        cursor = self._chunks.find(
            {"file_id": file_id, "part": part, "start": {"$gte": lower, "$lt": end}},
            {field: 1, "start": 1},
        ).sort("start", ASCENDING)
        items: list[Any] = []
        async for chunk in cursor:
            start = chunk["start"]
            values = chunk.get(field, [])
            lo = max(offset - start, 0)
            hi = min(end - start, len(values))
            if hi > lo:
                items.extend(values[lo:hi])
        return items


def _sheet(summary: Summary, sheet: str | None) -> tuple[str, list[str], int]:
    if summary.sheets:
        chosen = summary.sheets[0] if sheet is None else next((s for s in summary.sheets if s.name == sheet), None)
        if chosen is None:
            raise KeyError(sheet)
        return chosen.name, [c.name for c in chosen.columns], chosen.rows
    if sheet not in (None, ""):
        raise KeyError(sheet)
    return "", [c.name for c in summary.columns], summary.rows


class FileState(NamedTuple):
    owner_id: str
    org_id: str | None
    """The file's organization; None for a record from before organizations (its owner's personal one)."""
    progress: Progress


class FileStateReader:
    """The notifier's view of a file: who owns it, in which organization, and where it stands now."""

    def __init__(self, db: Db) -> None:
        self._files = db[FILES]

    async def current(self, file_id: str) -> FileState | None:
        doc = await self._files.find_one({"_id": file_id, "deleting": {"$ne": True}})
        if doc is None:
            return None
        org_id = doc.get("org_id")
        return FileState(str(doc["owner_id"]), str(org_id) if org_id else None, progress_of(doc))


FILE_FIELDS = (
    "filename",
    "content_type",
    "format",
    "size",
    "sha256",
    "project_id",
    "batch_id",
    "status",
    "progress",
    "stage",
    "created_at",
    "updated_at",
    "summary",
    "error",
    "duration_ms",
)
"""A file record's top fields as ``GET /files/{id}`` answers them (without its content)."""


async def file_record(db: Db, file_id: str) -> dict[str, Any] | None:
    """A file's top fields (``file_id``, ``owner_id``, ``org_id``, ``FILE_FIELDS``) for webhook bodies; None if gone."""
    doc = await db[FILES].find_one(
        {"_id": file_id, "deleting": {"$ne": True}}, dict.fromkeys(("owner_id", "org_id", *FILE_FIELDS), 1)
    )
    if doc is None:
        return None
    return {
        "file_id": str(doc["_id"]),
        "owner_id": str(doc["owner_id"]),
        "org_id": record_org(doc),
        **{name: doc.get(name) for name in FILE_FIELDS},
    }


async def parse_abandoned(db: Db, file_id: str) -> bool:
    """Whether the gateway gave up on the file (cancelled, or being deleted); an unknown file is not."""
    doc = await db[FILES].find_one({"_id": file_id}, {"status": 1, "deleting": 1})
    return doc is not None and (doc.get("deleting") is True or doc.get("status") == FileStatus.CANCELLED.value)


def progress_of(doc: dict[str, Any]) -> Progress:
    """The public progress object of a ``files`` record."""
    error = doc.get("error")
    return Progress(
        file_id=str(doc["_id"]),
        status=FileStatus(doc["status"]),
        progress=int(doc.get("progress", 0)),
        stage=Stage(doc.get("stage", Stage.UPLOAD)),
        bytes_done=int(doc.get("bytes_done", 0)),
        bytes_total=doc.get("bytes_total"),
        rows_done=int(doc.get("rows_done", 0)),
        pages_done=int(doc.get("pages_done", 0)),
        pages_total=doc.get("pages_total"),
        error=ErrorInfo.model_validate(error) if error else None,
        filename=doc.get("filename"),
        updated_at=doc.get("updated_at"),
    )


class ApiKeyReader:
    """Who an ``X-API-Key`` acts as: its owner, with the owner's role and no organization claims."""

    def __init__(self, db: Db) -> None:
        self._keys = db[API_KEYS]

    async def principal_for(self, key: str) -> Principal | None:
        """The key's principal; None for an empty, overlong, unknown or revoked key."""
        if not key or len(key) > MAX_API_KEY_LENGTH:
            return None
        doc = await self._keys.find_one({"key_hash": secret_hash(key), "revoked": {"$ne": True}})
        if doc is None:
            return None
        # A key does not expire (``expires_at=0``: a reader bounds long connections itself); ``token_id``
        # names the key, so logs can tell which one was used.
        return Principal(
            user_id=str(doc["owner_id"]), username="", role=str(doc["role"]), token_id=str(doc["_id"]), expires_at=0
        )
