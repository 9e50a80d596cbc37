"""Dead letters: messages a queue gave up on, kept for an administrator to see and replay.

The gateway consumes the broker's dead-letter queue (``ferry.dead-letters``)
and stores each dead letter in ``dead_letters``, keyed by event and queue, so
a dead letter delivered twice is stored once. A dead ``file.uploaded.v1``
means the file will never be parsed: its record is failed on the spot
(``dead_lettered``, with the queue and the reason) and ``file.failed.v1`` is
owed through the outbox, so subscribers hear it. A replay queues the file
again and sends the event back to the queue it died in, and only there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import structlog
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.bus import Bus, DeadLetter
from ferry_core.events import Envelope, ErrorInfo, FileFailed, FileStatus, FileUploaded, Stage, utcnow
from ferry_core.observability import EVENTS_CONSUMED, bind_correlation
from ferry_ingest.files import DEAD_LETTERED, FilesRepository
from ferry_ingest.outbox import OutboxRelay

log = structlog.get_logger(__name__)

COLLECTION = "dead_letters"
SOURCE = "ferry-ingest"
_MAX_BODY_CHARS = 10_000

Doc = dict[str, Any]


def _letter_id(letter: DeadLetter) -> str:
    event_id = letter.envelope.id if letter.envelope is not None else hashlib.sha256(letter.body).hexdigest()[:32]
    return f"{event_id}@{letter.queue}"


class DeadLetterStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.collection: AsyncCollection[Doc] = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("dead_at", DESCENDING)])
        await self.collection.create_index([("queue", ASCENDING), ("dead_at", DESCENDING)])

    async def save(self, letter: DeadLetter) -> Doc:
        envelope = letter.envelope
        doc: Doc = {
            "queue": letter.queue,
            "reason": letter.reason,
            "deliveries": letter.deliveries,
            "event_id": envelope.id if envelope else None,
            "type": envelope.type if envelope else None,
            "file_id": envelope.subject if envelope else None,
            "envelope": envelope.model_dump(mode="json") if envelope else None,
            "body": None if envelope else letter.body[:_MAX_BODY_CHARS].decode(errors="replace"),
            "dead_at": letter.dead_at or utcnow(),
            "recorded_at": utcnow(),
        }
        letter_id = _letter_id(letter)
        await self.collection.update_one({"_id": letter_id}, {"$set": doc}, upsert=True)
        return {"_id": letter_id, **doc}

    async def page(self, queue: str | None, limit: int, offset: int) -> tuple[list[Doc], int]:
        flt: Doc = {"queue": queue} if queue else {}
        cursor = self.collection.find(flt).sort([("dead_at", DESCENDING), ("_id", ASCENDING)]).skip(offset).limit(limit)
        return await cursor.to_list(), await self.collection.count_documents(flt)

    async def get(self, letter_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": letter_id})

    async def ids(self, queue: str | None) -> list[str]:
        flt: Doc = {"queue": queue} if queue else {}
        return [str(doc["_id"]) async for doc in self.collection.find(flt, {"_id": 1}).sort("dead_at", ASCENDING)]

    async def remove(self, letter_id: str) -> bool:
        return (await self.collection.delete_one({"_id": letter_id})).deleted_count == 1


class NotReplayable(Exception):
    """A dead letter that cannot be sent again (its body is not an event, or it came from no queue)."""


@dataclass(frozen=True)
class Replayed:
    letter_id: str
    outcome: str  # "replayed" or "discarded" (its file is gone: nothing to do)


class DeadLetters:
    """Records dead letters (the consumer) and replays them (the admin API)."""

    def __init__(self, store: DeadLetterStore, repo: FilesRepository, bus: Bus, relay: OutboxRelay) -> None:
        self.store = store
        self._repo = repo
        self._bus = bus
        self._relay = relay

    async def handle(self, letter: DeadLetter) -> None:
        envelope = letter.envelope
        bind_correlation(envelope.correlation_id if envelope else None)
        doc = await self.store.save(letter)
        log.warning(
            "dead letter recorded",
            letter_id=doc["_id"],
            queue=letter.queue,
            reason=letter.reason,
            event_type=doc["type"],
            file_id=doc["file_id"],
        )
        if envelope is not None and envelope.type == "file.uploaded.v1":
            await self._fail_file(envelope, letter)
        EVENTS_CONSUMED.labels("ingest", "dead-letter", "ok").inc()

    async def _fail_file(self, envelope: Envelope, letter: DeadLetter) -> None:
        upload = envelope.payload()
        assert isinstance(upload, FileUploaded)
        attempts = f" after {letter.deliveries} attempts" if letter.deliveries else ""
        why = "it was rejected" if letter.reason == "rejected" else f"it failed{attempts}"
        error = ErrorInfo(
            code=DEAD_LETTERED,
            message=f"Processing was given up on ({letter.reason} in {letter.queue}): {why}. "
            "An administrator can replay it.",
        )
        failed = Envelope.wrap(
            FileFailed(file_id=upload.file_id, owner_id=upload.owner_id, stage=Stage.PARSE, error=error),
            source=SOURCE,
            subject=upload.file_id,
            correlation_id=envelope.correlation_id,
            org_id=envelope.org_id,
        )
        statuses = [FileStatus.QUEUED.value, FileStatus.PARSING.value]
        if await self._repo.mark_failed(upload.file_id, statuses, error, Stage.PARSE, failed):
            self._relay.wake()

    async def replay(self, letter_id: str) -> Replayed | None:
        """Send one dead letter back to its queue; None when there is no such dead letter."""
        doc = await self.store.get(letter_id)
        if doc is None:
            return None
        if doc.get("envelope") is None or not doc.get("queue"):
            raise NotReplayable("this dead letter is not an event Ferry can send again")
        envelope = Envelope.model_validate(doc["envelope"])
        if envelope.type == "file.uploaded.v1" and not await self._requeue(envelope):
            # Deleted, or parsed or failed otherwise since: nothing to replay.
            await self.store.remove(letter_id)
            return Replayed(letter_id, "discarded")
        await self._bus.send_to_queue(doc["queue"], envelope)
        await self.store.remove(letter_id)
        log.info("dead letter replayed", letter_id=letter_id, queue=doc["queue"], event_type=envelope.type)
        return Replayed(letter_id, "replayed")

    async def _requeue(self, envelope: Envelope) -> bool:
        """Queue a dead upload's file again; False when it is no longer waiting for a parse."""
        file_id = str(envelope.data.get("file_id") or envelope.subject)
        if await self._repo.requeue_dead_lettered(file_id):
            return True
        record = await self._repo.get_visible(file_id, None)  # a replay that stopped halfway left it queued
        return record is not None and record["status"] == FileStatus.QUEUED.value

    async def replay_all(self, queue: str | None) -> list[Replayed]:
        done = []
        for letter_id in await self.store.ids(queue):
            try:
                result = await self.replay(letter_id)
            except NotReplayable:
                continue
            if result is not None:
                done.append(result)
        return done
