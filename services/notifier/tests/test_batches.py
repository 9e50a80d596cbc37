"""Live batch progress: WS /ws/batches/{id} and SSE ?batch_id=, the newest figures first, completion once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosedError

from ferry_core.events import BatchCompleted, BatchProgress
from ferry_notifier.connections import Outbox
from ferry_notifier.messages import BatchUpdate, batch_update
from ferry_notifier.recent import RecentBatches

WAIT = 10.0
ORG = "org-acme"
NOT_FOUND = (404, {"detail": "batch not found"})


def figures(batch_id: str, revision: int, *, owner: str = "alice", done: int = 0, files: int = 3) -> BatchProgress:
    """A batch of ``files`` files, ``done`` of them parsed and the rest queued."""
    counts = {"parsed": done, "queued": files - done} if done < files else {"parsed": files}
    return BatchProgress(
        batch_id=batch_id,
        owner_id=owner,
        revision=revision,
        files=files,
        counts=counts,
        bytes=100 * files,
        rows=10 * done,
        progress=100 * done // files,
        complete=done == files,
    )


def described(message: dict[str, Any]) -> tuple[Any, ...]:
    data = message["data"]
    return (message["type"], data.get("revision"), data["counts"].get("parsed"))


async def test_state_then_newer_figures_then_completion_exactly_once(notifier):
    await notifier.publish(figures("b1", 1))
    async with notifier.socket("/ws/batches/b1", "alice") as ws:
        first = await notifier.receive(ws)
        assert first == {"type": "batch_update", "data": figures("b1", 1).model_dump(mode="json")}
        await notifier.publish(figures("b1", 3, done=2))
        await notifier.publish(figures("b1", 2, done=1))  # older than what was sent: dropped
        await notifier.publish(figures("b1", 4, done=3))
        await notifier.publish(BatchCompleted(batch_id="b1", owner_id="alice", counts={"parsed": 3}))
        await ws.send(json.dumps({"type": "ping"}))
        received = [await notifier.receive(ws) for _ in range(4)]
    assert [m["type"] if m["type"] == "pong" else described(m) for m in received] == [
        ("batch_update", 3, 2),
        ("batch_update", 4, 3),
        ("batch_completed", None, 3),
        "pong",  # batch.completed.v1 after the complete figures sent nothing more
    ]
    assert received[2] == {"type": "batch_completed", "data": {"batch_id": "b1", "counts": {"parsed": 3}}}


async def test_a_late_subscriber_gets_the_newest_figures_and_the_completion(notifier):
    await notifier.publish(figures("b2", 2, done=3))
    await notifier.publish(figures("b2", 1, done=1))  # arrived late: the replica keeps revision 2
    async with notifier.socket("/ws/batches/b2", "alice") as ws:
        assert described(await notifier.receive(ws)) == ("batch_update", 2, 3)
        assert described(await notifier.receive(ws)) == ("batch_completed", None, 3)


async def test_completion_heard_first_is_sent_once(notifier):
    async with notifier.socket("/ws/batches/b3", "alice") as ws:
        await notifier.publish(BatchCompleted(batch_id="b3", owner_id="alice", counts={"parsed": 3}))
        assert described(await notifier.receive(ws)) == ("batch_completed", None, 3)
        await notifier.publish(figures("b3", 5, done=3))
        assert described(await notifier.receive(ws)) == ("batch_update", 5, 3)
        await ws.send(json.dumps({"type": "ping"}))
        assert await notifier.receive(ws) == {"type": "pong"}


async def test_a_batch_not_heard_of_yet_is_followed_from_its_next_event(notifier):
    async with notifier.socket("/ws/batches/fresh", "alice") as ws:
        await notifier.publish(figures("fresh", 7, done=1))
        assert described(await notifier.receive(ws)) == ("batch_update", 7, 1)


async def test_a_foreign_batch_is_refused_and_an_org_members_is_not(notifier):
    await notifier.publish(figures("bobs", 1, owner="bob"))
    await notifier.publish(figures("orgs", 1, owner="bob"), org_id=ORG)
    assert await notifier.refused("/ws/batches/bobs", "alice") == NOT_FOUND
    assert await notifier.refused("/ws/batches/orgs", "alice") == NOT_FOUND
    async with notifier.socket("/ws/batches/orgs", "alice", {"orgs": {ORG: "viewer"}}) as ws:
        assert described(await notifier.receive(ws)) == ("batch_update", 1, 0)
    async with notifier.socket("/ws/batches/bobs", "root", {"role": "admin"}) as ws:
        assert described(await notifier.receive(ws)) == ("batch_update", 1, 0)


async def test_an_unknown_batch_that_turns_out_foreign_is_closed_as_not_found(notifier):
    async with notifier.socket("/ws/batches/later", "alice") as ws:
        await notifier.publish(figures("later", 1, owner="bob"))
        with pytest.raises(ConnectionClosedError) as info:
            await notifier.receive(ws)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4404, "batch not found")


async def test_sse_follows_a_batch(notifier):
    await notifier.publish(figures("b4", 1))
    params = {"batch_id": "b4", "token": notifier.token("alice")}
    async with (
        httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client,
        client.stream("GET", "/events", params=params) as response,
    ):
        assert response.status_code == 200
        events = notifier.sse_events(response)
        assert (await asyncio.wait_for(anext(events), WAIT))[0] == "batch_update"
        await notifier.publish(figures("b4", 2, done=3))
        received = [await asyncio.wait_for(anext(events), WAIT) for _ in range(2)]
    assert [(event, described(message)) for event, message in received] == [
        ("batch_update", ("batch_update", 2, 3)),
        ("batch_completed", ("batch_completed", None, 3)),
    ]


async def test_sse_refuses_a_foreign_batch_and_both_ids(notifier):
    await notifier.publish(figures("b5", 1, owner="bob"))
    token = notifier.token("alice")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client:
        foreign = await client.get("/events", params={"batch_id": "b5", "token": token})
        both = await client.get("/events", params={"batch_id": "b5", "file_id": "f", "token": token})
    assert (foreign.status_code, foreign.json()) == NOT_FOUND
    assert (both.status_code, both.json()) == (422, {"detail": "give file_id or batch_id, not both"})


async def test_batch_subscriptions_are_counted(notifier):
    async with notifier.socket("/ws/batches/b6", "alice"), httpx.AsyncClient(base_url=notifier.url) as client:
        metrics = (await client.get("/metrics")).text
    assert 'ferry_notifier_subscriptions{kind="batch"}' in metrics


def test_recent_batches_keep_the_highest_revision_and_stay_bounded():
    now = [0.0]
    recent = RecentBatches(max_batches=2, ttl=10, clock=lambda: now[0])
    for revision in (2, 5, 3):
        recent.record(batch_update(figures("a", revision), None))
    latest, completed = recent.known("a") or (None, None)
    assert latest is not None and latest.revision == 5 and completed is None
    recent.record(batch_update(figures("b", 1), None))
    recent.record(batch_update(figures("c", 1), None))
    assert recent.known("a") is None  # the least recently updated went first
    now[0] = 11
    assert recent.known("c") is None and len(recent) == 0


async def test_a_slow_batch_subscriber_gets_the_newest_figures_and_the_completion():
    outbox = Outbox("alice", 1)
    outbox.follow_batch("b", None, None)
    for revision in range(1, 6):
        outbox.offer(batch_update(figures("b", revision, done=min(revision, 3)), None))
    sent = [await outbox.next() for _ in range(outbox.pending)]
    assert [(item.kind, item.revision) for item in sent if isinstance(item, BatchUpdate)] == [
        ("batch_update", 1),  # in the queue before it filled
        ("batch_update", 5),  # 2..4 replaced unsent by the newest
        ("batch_completed", None),  # never coalesced away
    ]
