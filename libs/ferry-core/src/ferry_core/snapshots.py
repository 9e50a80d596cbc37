"""Keeping the newest snapshot a projection has heard of, whatever order events arrive in."""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError


async def keep_newest(
    collection: AsyncCollection[dict[str, Any]],
    doc_id: str,
    revision: int,
    fields: dict[str, Any],
    *,
    unless: dict[str, Any] | None = None,
) -> None:
    """Store ``fields`` (with ``revision``) as ``doc_id`` unless it holds ``revision`` or later, or matches ``unless``.

    ``unless`` names a tombstone no snapshot may overwrite (``{"deleted": True}``). A redelivered
    or late event therefore changes nothing, and two arriving at once cannot both win.
    """
    query: dict[str, Any] = {"_id": doc_id, "revision": {"$lt": revision}}
    for field, value in (unless or {}).items():
        query[field] = {"$ne": value}
    # A duplicate key means the document exists but did not match: newer already, or a tombstone.
    with contextlib.suppress(DuplicateKeyError):
        await collection.update_one(query, {"$set": {**fields, "revision": revision}}, upsert=True)
