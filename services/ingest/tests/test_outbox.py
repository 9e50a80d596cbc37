"""The relay publishes what records owe, survives a broker outage, and removes deleted records."""

from __future__ import annotations

import pytest

from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, FileDeleted, FileUploaded
from ferry_ingest.files import FilesRepository
from ferry_ingest.outbox import OutboxRelay


async def queued_file(repo: FilesRepository, file_id: str, owner_id: str = "u1") -> None:
    await repo.create_uploading(file_id, owner_id, "a.csv", "text/csv", "csv")
    payload = FileUploaded(
        file_id=file_id,
        owner_id=owner_id,
        filename="a.csv",
        content_type="text/csv",
        size=3,
        sha256="0" * 64,
        format="csv",
        blob_key=file_id,
    )
    await repo.mark_queued(file_id, 3, "0" * 64, Envelope.wrap(payload, source="test"))


class FlakyBus(MemoryBus):
    """The in-memory bus, refusing to publish while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.sent: list[Envelope] = []

    async def publish(self, envelope: Envelope) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.sent.append(envelope)
        await super().publish(envelope)


async def test_pending_events_go_out_once_the_broker_answers(repo: FilesRepository) -> None:
    bus = FlakyBus()
    relay = OutboxRelay(repo, bus)
    await queued_file(repo, "f1")
    bus.down = True
    with pytest.raises(ConnectionError):
        await relay.drain()
    doc = await repo.collection.find_one({"_id": "f1"})
    assert doc is not None and len(doc["pending_events"]) == 1  # kept while the broker is down

    bus.down = False
    assert await relay.drain() == 1
    assert [e.type for e in bus.sent] == ["file.uploaded.v1"]
    doc = await repo.collection.find_one({"_id": "f1"})
    assert doc is not None and doc["pending_events"] == [] and doc["has_pending"] is False
    assert await relay.drain() == 0  # nothing twice


async def test_deleted_record_is_removed_after_its_event_is_sent(repo: FilesRepository) -> None:
    bus = FlakyBus()
    relay = OutboxRelay(repo, bus)
    await queued_file(repo, "f2")
    await relay.drain()
    event = Envelope.wrap(FileDeleted(file_id="f2", owner_id="u1"), source="test")
    assert await repo.mark_deleting("f2", event)
    assert await relay.drain() == 1
    assert bus.sent[-1].type == "file.deleted.v1"
    assert await repo.collection.find_one({"_id": "f2"}) is None
