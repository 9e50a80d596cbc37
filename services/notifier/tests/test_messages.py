"""Bus events become the public messages with the exact shapes clients rely on."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ferry_core.events import (
    Envelope,
    ErrorInfo,
    FileCancelled,
    FileDeleted,
    FileFailed,
    FileParsed,
    FileProgress,
    FileStatus,
    FileUploaded,
    Stage,
    Summary,
    UserDeleted,
)
from ferry_notifier.messages import reply, update_for

PROGRESS_FIELDS = {
    "file_id",
    "status",
    "progress",
    "stage",
    "bytes_done",
    "bytes_total",
    "rows_done",
    "pages_done",
    "pages_total",
    "error",
    "filename",
    "updated_at",
}


def message_of(payload):
    envelope = Envelope.wrap(payload, source="ferry-test")
    update = update_for(envelope)
    assert update is not None
    return update, json.loads(update.text), envelope


def test_progress_event_is_a_progress_update_with_the_event_status():
    update, message, envelope = message_of(
        FileProgress(
            file_id="f1",
            owner_id="u1",
            status=FileStatus.PARSING,
            stage=Stage.PARSE,
            progress=42,
            rows_done=420,
            bytes_done=10,
            bytes_total=20,
        )
    )
    assert update.kind == "progress_update"
    assert (update.file_id, update.owner_id) == ("f1", "u1")
    assert message["type"] == "progress_update"
    assert set(message["data"]) == PROGRESS_FIELDS
    assert message["data"]["status"] == "parsing"
    assert message["data"]["stage"] == "parse"
    assert message["data"]["progress"] == 42
    assert message["data"]["rows_done"] == 420
    assert message["data"]["updated_at"] == envelope.model_dump(mode="json")["time"]


def test_uploaded_event_is_a_queued_status_update():
    _, message, _ = message_of(
        FileUploaded(
            file_id="f1",
            owner_id="u1",
            filename="a.csv",
            content_type="text/csv",
            size=99,
            sha256="0" * 64,
            format="csv",
            blob_key="f1",
        )
    )
    assert message["type"] == "status_update"
    data = message["data"]
    assert (data["status"], data["stage"], data["progress"]) == ("queued", "queue", 0)
    assert (data["bytes_done"], data["bytes_total"], data["filename"]) == (99, 99, "a.csv")


def test_parsed_event_is_a_complete_status_update():
    _, message, _ = message_of(
        FileParsed(file_id="f1", owner_id="u1", summary=Summary(kind="pages", rows=0, pages=7), duration_ms=12)
    )
    data = message["data"]
    assert message["type"] == "status_update"
    assert (data["status"], data["stage"], data["progress"]) == ("parsed", "done", 100)
    assert (data["rows_done"], data["pages_done"], data["pages_total"]) == (0, 7, 7)


def test_failed_event_carries_the_error():
    _, message, _ = message_of(
        FileFailed(file_id="f1", owner_id="u1", stage=Stage.PARSE, error=ErrorInfo(code="bad_csv", message="no"))
    )
    data = message["data"]
    assert message["type"] == "status_update"
    assert (data["status"], data["stage"]) == ("failed", "parse")
    assert data["error"] == {"code": "bad_csv", "message": "no"}


def test_deleted_event_is_a_file_deleted_message():
    update, message, _ = message_of(FileDeleted(file_id="f1", owner_id="u1"))
    assert update.kind == "file_deleted"
    assert message == {"type": "file_deleted", "data": {"file_id": "f1"}}


def test_events_subscribers_never_see_map_to_nothing():
    assert update_for(Envelope.wrap(UserDeleted(user_id="u1"), source="ferry-test")) is None


def test_unknown_or_malformed_events_raise():
    with pytest.raises(KeyError):
        update_for(Envelope(type="file.exploded.v1", source="x", data={}))
    with pytest.raises(ValidationError):
        update_for(Envelope(type="file.progress.v1", source="x", data={"file_id": "f1"}))


def test_replies_are_compact_json():
    assert reply("pong").text == '{"type":"pong"}'
    assert json.loads(reply("error", detail="x", file_id="f").text) == {"type": "error", "detail": "x", "file_id": "f"}


def test_cancelled_event_is_a_terminal_status_update():
    update, message, _ = message_of(FileCancelled(file_id="f1", owner_id="alice"))
    assert (update.kind, update.owner_id) == ("status_update", "alice")
    data = message["data"]
    assert (data["status"], data["stage"], data["progress"]) == ("cancelled", "done", 0)
    assert set(message["data"]) == PROGRESS_FIELDS


def test_updates_carry_their_events_id_and_time():
    update, _, envelope = message_of(FileDeleted(file_id="f1", owner_id="alice"))
    assert update.event_id == envelope.id
    assert update.event_time == envelope.time.timestamp()
