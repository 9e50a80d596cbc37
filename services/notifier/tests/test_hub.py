"""The hub routes each update to the local subscribers of its organization or its file, and no one else."""

from __future__ import annotations

import pytest

from ferry_core.bus import Reject
from ferry_core.events import Envelope, FileProgress, FileStatus, Stage
from ferry_notifier.hub import Hub
from ferry_notifier.messages import Update, file_deleted, update_for


class Recorder:
    def __init__(self) -> None:
        self.received: list[Update] = []

    def offer(self, update: Update) -> None:
        self.received.append(update)


def update(file_id: str, owner_id: str) -> Update:
    payload = FileProgress(file_id=file_id, owner_id=owner_id, status=FileStatus.PARSING, stage=Stage.PARSE, progress=5)
    result = update_for(Envelope.wrap(payload, source="ferry-test"))
    assert result is not None
    return result


def test_routes_by_owner_and_by_file_once_each():
    hub = Hub()
    by_owner, by_file, both, other = Recorder(), Recorder(), Recorder(), Recorder()
    hub.watch_org(by_owner, "alice")
    hub.watch_file(by_file, "f1")
    hub.watch_org(both, "alice")
    hub.watch_file(both, "f1")
    hub.watch_org(other, "bob")
    hub.publish(update("f1", "alice"))
    hub.publish(update("f2", "alice"))
    assert [u.file_id for u in by_owner.received] == ["f1", "f2"]
    assert [u.file_id for u in by_file.received] == ["f1"]
    assert [u.file_id for u in both.received] == ["f1", "f2"]
    assert other.received == []


def test_removed_subscribers_get_nothing():
    hub = Hub()
    subscriber = Recorder()
    hub.watch_org(subscriber, "alice")
    hub.watch_file(subscriber, "f1")
    assert hub.subscriber_count() == 1
    hub.remove(subscriber)
    hub.publish(update("f1", "alice"))
    assert subscriber.received == []
    assert hub.subscriber_count() == 0


def test_a_deletion_ends_the_file_subscriptions():
    hub = Hub()
    subscriber = Recorder()
    hub.watch_file(subscriber, "f1")
    hub.publish(file_deleted("alice", "f1"))
    hub.publish(update("f1", "alice"))
    assert [u.kind for u in subscriber.received] == ["file_deleted"]
    assert hub.subscriber_count() == 0


async def test_handle_fans_out_events_and_rejects_malformed_ones():
    hub = Hub()
    subscriber = Recorder()
    hub.watch_org(subscriber, "alice")
    payload = FileProgress(file_id="f1", owner_id="alice", status=FileStatus.PARSING, stage=Stage.PARSE, progress=5)
    await hub.handle(Envelope.wrap(payload, source="ferry-test"))
    assert [u.file_id for u in subscriber.received] == ["f1"]
    with pytest.raises(Reject):
        await hub.handle(Envelope(type="file.progress.v1", source="x", data={"file_id": "f1"}))
