"""One summary per parsed file in ``parsed_documents`` (the contract is ``ferry_core.readmodels``)."""

from __future__ import annotations

from dataclasses import dataclass

from ferry_core.events import Summary, utcnow
from ferry_core.readmodels import DOCUMENTS, Db


@dataclass(frozen=True)
class ParsedDocument:
    summary: Summary
    duration_ms: int


class ParsedDocuments:
    def __init__(self, db: Db) -> None:
        self._documents = db[DOCUMENTS]

    async def find(self, file_id: str) -> ParsedDocument | None:
        doc = await self._documents.find_one({"_id": file_id})
        if doc is None:
            return None
        return ParsedDocument(Summary.model_validate(doc["summary"]), int(doc.get("duration_ms", 0)))

    async def save(self, file_id: str, owner_id: str, summary: Summary, duration_ms: int) -> None:
        document = {
            "_id": file_id,
            "owner_id": owner_id,
            "summary": summary.model_dump(mode="json"),
            "duration_ms": duration_ms,
            "parsed_at": utcnow(),
        }
        await self._documents.replace_one({"_id": file_id}, document, upsert=True)

    async def delete(self, file_id: str) -> bool:
        result = await self._documents.delete_one({"_id": file_id})
        return result.deleted_count > 0
