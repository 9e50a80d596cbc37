"""The state on subscribe, SSE resume and isolation between users, over real sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ferry_core.events import FileCancelled, FileStatus
from ferry_testkit.events import file_parsed, file_progress

WAIT = 10.0


async def sse_frames(response: httpx.Response) -> AsyncIterator[tuple[str, str | None, dict[str, Any]]]:
    """(event, id, data) of an event stream; comments and ``retry:`` lines are skipped."""
    event, event_id, data = "message", None, ""
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            event = line.removeprefix("event:").strip()
        elif line.startswith("id:"):
            event_id = line.removeprefix("id:").strip()
        elif line.startswith("data:"):
            data += line.removeprefix("data:").strip()
        elif line == "" and data:
            yield event, event_id, json.loads(data)
            event, event_id, data = "message", None, ""


async def heard_by_the_notifier(notifier, owner_id: str, file_id: str, payload: Any, status: str) -> None:
    """Publish ``payload`` and wait until the notifier has fanned it out (an all-files socket saw it)."""
    async with notifier.socket("/ws", owner_id) as watcher:
        await notifier.publish(payload)
        while True:
            message = await notifier.receive(watcher)
            if message.get("data", {}).get("file_id") == file_id and message["data"]["status"] == status:
                return


async def test_a_subscriber_after_the_terminal_event_gets_it_though_the_record_lags(notifier):
    # The gateway's projection has not written "parsed" yet, but the notifier already delivered it.
    file_id = await notifier.seed_file("alice", status=FileStatus.PARSING, progress=60)
    await heard_by_the_notifier(notifier, "alice", file_id, file_parsed(file_id, "alice"), "parsed")
    async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
        first = await notifier.receive(ws)
        await ws.send(json.dumps({"type": "ping"}))
        assert await notifier.receive(ws) == {"type": "pong"}  # and nothing older came in between
    assert (first["type"], first["data"]["status"], first["data"]["progress"]) == ("status_update", "parsed", 100)
    async with notifier.socket("/ws", "alice") as ws:
        await ws.send(json.dumps({"type": "subscribe", "file_id": file_id}))
        assert (await notifier.receive(ws))["data"]["status"] == "parsed"


async def test_what_was_heard_is_never_given_to_another_user(notifier):
    file_id = await notifier.seed_file("bob", status=FileStatus.PARSING, progress=60)
    await heard_by_the_notifier(notifier, "alice", file_id, file_parsed(file_id, "alice"), "parsed")  # a forged owner
    async with notifier.socket(f"/ws/{file_id}", "bob") as ws:
        first = await notifier.receive(ws)
    assert (first["data"]["status"], first["data"]["progress"]) == ("parsing", 60)


async def test_cancelled_is_a_status_update_and_reaches_late_subscribers(notifier):
    file_id = await notifier.seed_file("alice", status=FileStatus.PARSING, progress=30)
    async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
        await notifier.receive(ws)
        await notifier.publish(FileCancelled(file_id=file_id, owner_id="alice"))
        cancelled = await notifier.receive(ws)
        await notifier.publish(file_progress(file_id, "alice", 80))  # the cancelled parse's straggler
        await ws.send(json.dumps({"type": "ping"}))
        assert await notifier.receive(ws) == {"type": "pong"}
    assert (cancelled["type"], cancelled["data"]["status"]) == ("status_update", "cancelled")
    async with notifier.socket(f"/ws/{file_id}", "alice") as late:  # the record still says parsing
        assert (await notifier.receive(late))["data"]["status"] == "cancelled"


async def test_sse_resumes_after_the_last_event_id(notifier):
    file_id = await notifier.seed_file("alice", progress=5)
    params = {"file_id": file_id, "token": notifier.token("alice")}
    async with httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client:
        async with client.stream("GET", "/events", params=params) as response:
            frames = sse_frames(response)
            _, snapshot_id, _ = await asyncio.wait_for(anext(frames), WAIT)
            assert snapshot_id is None  # the stored state is not an event
            for pct in (10, 20):
                await notifier.publish(file_progress(file_id, "alice", pct))
            seen = [await asyncio.wait_for(anext(frames), WAIT) for _ in range(2)]
        assert [m["data"]["progress"] for _, _, m in seen] == [10, 20]
        last_id = seen[-1][1]
        assert last_id

        # Disconnected: two more events, which this replica hears meanwhile.
        await notifier.publish(file_progress(file_id, "alice", 30))
        await heard_by_the_notifier(notifier, "alice", file_id, file_parsed(file_id, "alice"), "parsed")

        headers = {"Last-Event-ID": last_id}
        async with client.stream("GET", "/events", params=params, headers=headers) as response:
            frames = sse_frames(response)
            resumed = [await asyncio.wait_for(anext(frames), WAIT) for _ in range(2)]
        assert [(e, m["data"]["progress"]) for e, _, m in resumed] == [("progress_update", 30), ("status_update", 100)]
        assert all(event_id for _, event_id, _ in resumed)

        # An id this replica does not know (too old, or never heard): the current state, as for a new stream.
        headers = {"Last-Event-ID": "not-an-event-we-know"}
        async with client.stream("GET", "/events", params=params, headers=headers) as response:
            event, _, first = await asyncio.wait_for(anext(sse_frames(response)), WAIT)
        assert (event, first["data"]["status"]) == ("status_update", "parsed")


async def test_sse_resume_of_all_files_gives_only_the_callers_missed_updates(notifier):
    first = await notifier.seed_file("alice")
    second = await notifier.seed_file("alice")
    bobs = await notifier.seed_file("bob")
    params = {"token": notifier.token("alice")}
    async with httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client:
        async with client.stream("GET", "/events", params=params) as response:
            await notifier.publish(file_progress(first, "alice", 10))
            _, last_id, _ = await asyncio.wait_for(anext(sse_frames(response)), WAIT)
        await notifier.publish(file_progress(bobs, "bob", 50))
        await notifier.publish(file_progress(second, "alice", 20))
        await heard_by_the_notifier(notifier, "alice", first, file_parsed(first, "alice"), "parsed")
        async with client.stream("GET", "/events", params=params, headers={"Last-Event-ID": last_id or ""}) as response:
            frames = sse_frames(response)
            resumed = [await asyncio.wait_for(anext(frames), WAIT) for _ in range(2)]
    assert [(m["data"]["file_id"], m["data"]["status"]) for _, _, m in resumed] == [
        (second, "parsing"),
        (first, "parsed"),
    ]


async def test_two_users_on_ws_and_sse_each_get_only_their_own(notifier):
    files = {user: [await notifier.seed_file(user) for _ in range(3)] for user in ("alice", "bob")}
    async with httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client:
        streams = {
            user: client.stream("GET", "/events", params={"token": notifier.token(user)}) for user in ("alice", "bob")
        }
        async with (
            notifier.socket("/ws", "alice") as alice_ws,
            notifier.socket("/ws", "bob") as bob_ws,
            streams["alice"] as alice_sse,
            streams["bob"] as bob_sse,
        ):
            for pct in (10, 20, 30):
                for user in ("alice", "bob"):
                    for file_id in files[user]:
                        await notifier.publish(file_progress(file_id, user, pct))
            for user in ("alice", "bob"):
                for file_id in files[user]:
                    await notifier.publish(file_parsed(file_id, user))

            async def by_ws(ws) -> list[dict[str, Any]]:
                return [await notifier.receive(ws) for _ in range(12)]

            async def by_sse(response) -> list[dict[str, Any]]:
                frames = sse_frames(response)
                return [(await asyncio.wait_for(anext(frames), WAIT))[2] for _ in range(12)]

            received = {
                ("alice", "ws"): await by_ws(alice_ws),
                ("bob", "ws"): await by_ws(bob_ws),
                ("alice", "sse"): await by_sse(alice_sse),
                ("bob", "sse"): await by_sse(bob_sse),
            }
    for (user, _), messages in received.items():
        assert {m["data"]["file_id"] for m in messages} == set(files[user])
        assert sum(m["data"]["status"] == "parsed" for m in messages) == 3
