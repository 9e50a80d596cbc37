"""The outbox: never blocks the fan-out, never steps a file back, coalesces when full."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

from ferry_core.events import FileStatus, Progress, Stage
from ferry_notifier.connections import CLOSE_FILE_DELETED, CLOSE_TOO_SLOW, Outbox
from ferry_notifier.messages import Close, Outgoing, Reply, file_deleted, progress_update, reply, status_update

OWNER = "alice"


def state(file_id="f1", status=FileStatus.PARSING, progress=50, stage=Stage.PARSE) -> Progress:
    return Progress(file_id=file_id, status=status, progress=progress, stage=stage)


def progressed(file_id="f1", status=FileStatus.PARSING, progress=50, owner=OWNER):
    return progress_update(owner, state(file_id, status, progress))


def parsed(file_id="f1"):
    return status_update(OWNER, state(file_id, FileStatus.PARSED, 100, Stage.DONE))


async def drain(outbox: Outbox) -> list[Outgoing]:
    """Everything the outbox would send now, in order."""
    return [await outbox.next() for _ in range(outbox.pending)]


def describe(items: list[Outgoing]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for item in items:
        if isinstance(item, Close):
            out.append(("close", str(item.code)))
        elif isinstance(item, Reply):
            out.append(("reply", json.loads(item.text)["type"]))
        else:
            data = json.loads(item.text)["data"]
            out.append((item.kind, item.file_id, str(data.get("status")), str(data.get("progress"))))
    return out


def following_own_files(outbox: Outbox) -> Outbox:
    """As ``/ws`` in the caller's personal organization: every file of its own."""
    outbox.follow_org(outbox.user_id)
    return outbox


async def test_updates_are_sent_in_order():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.offer(progressed(progress=10))
    outbox.offer(progressed(progress=20))
    outbox.offer(parsed())
    assert describe(await drain(outbox)) == [
        ("progress_update", "f1", "parsing", "10"),
        ("progress_update", "f1", "parsing", "20"),
        ("status_update", "f1", "parsed", "100"),
    ]


async def test_other_users_updates_never_enter():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.offer(progressed(owner="bob"))
    assert await drain(outbox) == []


async def test_an_admin_hears_the_files_it_follows_of_other_users_and_no_others():
    outbox = Outbox("root", 8, sees_all=True)
    outbox.open("f1")
    outbox.opened("f1", state(progress=10))
    outbox.offer(progressed("f1", progress=20, owner="bob"))  # followed by id: heard, whoever owns it
    outbox.offer(progressed("f2", progress=20, owner="bob"))  # not followed: another user's business
    outbox.unfollow("f1")
    outbox.offer(progressed("f1", progress=30, owner="bob"))
    assert describe(await drain(outbox)) == [
        ("status_update", "f1", "parsing", "10"),
        ("progress_update", "f1", "parsing", "20"),
    ]


def test_who_may_follow_what():
    member = Outbox(OWNER, 8, orgs=["org-x"])
    assert member.may_see(OWNER, "org-y")  # their own file, wherever it is
    assert member.may_see("bob", "org-x")  # a file of an organization they are in
    assert not member.may_see("bob", "bob")  # bob's personal files
    assert not member.may_see("bob", "org-y")
    assert Outbox("root", 8, sees_all=True).may_see("bob", "org-y")


async def test_other_organizations_files_never_enter_unless_followed_by_id():
    outbox = Outbox(OWNER, 8, orgs=["org-x"])
    outbox.follow_org("org-x")
    outbox.offer(replace(progressed("f1", progress=20, owner="bob"), org_id="org-x"))
    outbox.offer(replace(progressed("f2", progress=20, owner="bob"), org_id="org-y"))
    outbox.offer(progressed("f3", progress=20))  # its own, but in its personal organization
    assert [item for _, item, *_ in describe(await drain(outbox))] == ["f1"]


async def test_progress_after_a_terminal_status_is_dropped():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.offer(parsed())
    outbox.offer(progressed(progress=99))
    outbox.offer(progressed(status=FileStatus.PARSED, progress=100))
    assert describe(await drain(outbox)) == [("status_update", "f1", "parsed", "100")]


async def test_a_file_never_moves_back():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.offer(progressed(progress=60))
    outbox.offer(progressed(progress=55))  # older progress of the same status
    outbox.offer(status_update(OWNER, state(status=FileStatus.QUEUED, progress=0, stage=Stage.QUEUE)))
    outbox.offer(progressed(progress=70))
    assert describe(await drain(outbox)) == [
        ("progress_update", "f1", "parsing", "60"),
        ("progress_update", "f1", "parsing", "70"),
    ]


async def test_opening_holds_updates_until_the_current_state_is_queued():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.open("f1")
    outbox.offer(progressed(progress=70))
    outbox.opened("f1", state(progress=60))
    assert describe(await drain(outbox)) == [
        ("status_update", "f1", "parsing", "60"),
        ("progress_update", "f1", "parsing", "70"),
    ]


async def test_a_stored_state_older_than_what_was_sent_is_not_a_step_back():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.offer(parsed())
    outbox.open("f1")
    outbox.opened("f1", state(progress=40))  # the record lags the events
    assert describe(await drain(outbox)) == [
        ("status_update", "f1", "parsed", "100"),
        ("status_update", "f1", "parsed", "100"),
    ]


async def test_when_full_progress_is_coalesced_and_statuses_kept():
    outbox = following_own_files(Outbox(OWNER, 2))
    outbox.offer(progressed("f1", progress=1))
    outbox.offer(progressed("f1", progress=2))  # queue now full
    outbox.offer(progressed("f1", progress=3))
    outbox.offer(progressed("f2", progress=10))
    outbox.offer(progressed("f1", progress=4))  # replaces 3
    outbox.offer(parsed("f2"))  # replaces the pending f2 progress, and is kept
    outbox.reply(reply("pong"))
    assert describe(await drain(outbox)) == [
        ("progress_update", "f1", "parsing", "1"),
        ("progress_update", "f1", "parsing", "2"),
        ("progress_update", "f1", "parsing", "4"),
        ("status_update", "f2", "parsed", "100"),
        ("reply", "pong"),
    ]


async def test_offer_never_waits_and_next_does():
    outbox = following_own_files(Outbox(OWNER, 1))
    waiting = asyncio.create_task(outbox.next())
    await asyncio.sleep(0)
    assert not waiting.done()
    outbox.offer(progressed())
    assert describe([await asyncio.wait_for(waiting, 1)]) == [("progress_update", "f1", "parsing", "50")]


async def test_a_consumer_too_slow_for_statuses_is_closed():
    outbox = following_own_files(Outbox(OWNER, 2))
    for n in range(5):
        outbox.offer(parsed(f"f{n}"))
    outbox.offer(parsed("late"))
    assert await drain(outbox) == [CLOSE_TOO_SLOW]


async def test_a_single_file_connection_closes_after_the_deletion():
    outbox = following_own_files(Outbox(OWNER, 8, close_on_delete=True))
    outbox.offer(file_deleted(OWNER, "f1"))
    outbox.offer(progressed())
    items = await drain(outbox)
    assert describe(items[:1]) == [("file_deleted", "f1", "None", "None")]
    assert items[1:] == [CLOSE_FILE_DELETED]


async def test_unfollowed_files_are_not_sent():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.unfollow("f1")
    outbox.offer(progressed("f1"))
    outbox.offer(progressed("f2"))
    assert describe(await drain(outbox)) == [("progress_update", "f2", "parsing", "50")]


async def test_a_state_heard_further_along_than_the_record_is_sent_first():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.open("f1")
    outbox.opened("f1", state(progress=40), heard=state(status=FileStatus.PARSED, progress=100, stage=Stage.DONE))
    assert describe(await drain(outbox)) == [("status_update", "f1", "parsed", "100")]


async def test_a_resume_sends_the_missed_updates_instead_of_the_state():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.open("f1")
    outbox.offer(parsed())  # arrived while the record was read
    outbox.opened("f1", state(progress=10), missed=[progressed(progress=60), progressed(progress=70)])
    assert describe(await drain(outbox)) == [
        ("progress_update", "f1", "parsing", "60"),
        ("progress_update", "f1", "parsing", "70"),
        ("status_update", "f1", "parsed", "100"),
    ]


async def test_a_terminal_status_heard_twice_is_sent_once():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.offer(parsed())
    outbox.offer(parsed())
    assert describe(await drain(outbox)) == [("status_update", "f1", "parsed", "100")]


async def test_end_closes_next_whatever_waits():
    outbox = following_own_files(Outbox(OWNER, 8))
    outbox.offer(progressed(progress=10))
    outbox.offer(parsed())
    outbox.end(Close(1008, "token expired"))
    outbox.offer(progressed("f2"))
    assert await drain(outbox) == [Close(1008, "token expired")]
    assert outbox.closing
