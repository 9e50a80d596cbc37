"""What a replica remembers of the events it consumed: the furthest state per file, and updates to resume from."""

from __future__ import annotations

from dataclasses import replace

from ferry_core.events import FileStatus, Progress, Stage, new_id
from ferry_notifier.messages import Update, file_deleted, progress_update, status_update
from ferry_notifier.recent import RecentEvents, further_along


def state(file_id: str = "f1", status: FileStatus = FileStatus.PARSING, progress: int = 50) -> Progress:
    stage = Stage.DONE if status.terminal else Stage.PARSE
    return Progress(file_id=file_id, status=status, progress=progress, stage=stage)


def heard(update: Update) -> Update:
    """``update`` as if it came from an event (with an id)."""
    return replace(update, event_id=new_id(), event_time=0.0)


def progressed(file_id: str = "f1", pct: int = 50, owner: str = "alice") -> Update:
    return heard(progress_update(owner, state(file_id, progress=pct)))


def parsed(file_id: str = "f1", owner: str = "alice") -> Update:
    return heard(status_update(owner, state(file_id, FileStatus.PARSED, 100)))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_latest_is_the_furthest_state_heard():
    recent = RecentEvents()
    recent.record(progressed(pct=40))
    recent.record(parsed())
    recent.record(progressed(pct=95))  # a straggler from before the parse ended
    latest = recent.latest("f1", "alice")
    assert latest is not None and latest.status == FileStatus.PARSED


def test_the_first_terminal_status_heard_stays():
    recent = RecentEvents()
    recent.record(parsed())
    recent.record(heard(status_update("alice", state(status=FileStatus.CANCELLED, progress=0))))
    latest = recent.latest("f1", "alice")
    assert latest is not None and latest.status == FileStatus.PARSED


def test_latest_is_only_for_the_owner():
    recent = RecentEvents()
    recent.record(parsed(owner="bob"))
    assert recent.latest("f1", "alice") is None
    assert recent.latest("f1", "bob") is not None
    assert recent.latest("unknown", "bob") is None


def test_a_deleted_file_has_no_latest_state():
    recent = RecentEvents()
    recent.record(parsed())
    recent.record(heard(file_deleted("alice", "f1")))
    assert recent.latest("f1", "alice") is None


def test_bounded_by_files_least_recently_updated_first():
    recent = RecentEvents(max_files=2)
    recent.record(progressed("a"))
    recent.record(progressed("b"))
    recent.record(progressed("a", 60))  # "a" is fresher than "b" now
    recent.record(progressed("c"))
    assert len(recent) == 2
    assert recent.latest("b", "alice") is None
    assert recent.latest("a", "alice") is not None and recent.latest("c", "alice") is not None


def test_forgotten_after_the_ttl():
    clock = Clock()
    recent = RecentEvents(ttl=60, clock=clock)
    first = progressed("a")
    recent.record(first)
    clock.now += 30
    recent.record(progressed("b"))
    clock.now += 31
    assert recent.latest("a", "alice") is None
    assert recent.since(first.event_id or "", "alice", "a") is None
    assert recent.latest("b", "alice") is not None


def test_since_gives_one_files_missed_updates_in_order():
    recent = RecentEvents()
    updates = [progressed(pct=10), progressed("other", 5), progressed(pct=20), parsed()]
    for update in updates:
        recent.record(update)
    first = updates[0].event_id or ""
    assert recent.since(first, "alice", "f1") == [updates[2], updates[3]]
    assert recent.since(updates[3].event_id or "", "alice", "f1") == []
    assert recent.since(first, "alice") == updates[1:]


def test_since_refuses_unknown_foreign_and_other_file_ids():
    recent = RecentEvents()
    mine, bobs = progressed(), progressed("g1", owner="bob")
    recent.record(mine)
    recent.record(bobs)
    assert recent.since("never-heard", "alice", "f1") is None
    assert recent.since(bobs.event_id or "", "alice") is None
    assert recent.since(mine.event_id or "", "alice", "another-file") is None


def test_since_refuses_when_updates_after_the_id_were_forgotten():
    recent = RecentEvents(per_file=2)
    first, second = progressed("a", 10), progressed("b", 10)
    recent.record(first)
    recent.record(second)
    for pct in (20, 30):  # "a" keeps two updates: the first one is forgotten
        recent.record(progressed("a", pct))
    assert recent.since(first.event_id or "", "alice", "a") is None
    # From "b"'s update, the all-files resume would still be whole: a's 20 and 30 are kept.
    assert [u.file_id for u in recent.since(second.event_id or "", "alice") or []] == ["a", "a"]
    recent.record(progressed("a", 40))  # forgets a's 20, which came after b's update
    assert recent.since(second.event_id or "", "alice") is None
    assert recent.since(second.event_id or "", "alice", "b") == []


def test_further_along_prefers_what_moved_further():
    parsing, done = state(progress=40), state(status=FileStatus.PARSED, progress=100)
    assert further_along(parsing, done) is done  # the record lags the event
    assert further_along(done, parsing) is done
    assert further_along(parsing, None) is parsing
    assert further_along(parsing, state(progress=70)).progress == 70
    failed = state(status=FileStatus.FAILED, progress=0)
    assert further_along(failed, done) is failed  # the record's terminal status wins a tie
