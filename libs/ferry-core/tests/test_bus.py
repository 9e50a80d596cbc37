"""One behaviour suite for both buses: RabbitMQ and the in-memory one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from ferry_core.bus import Bus, Reject, topic_matches
from ferry_core.events import Envelope, FileDeleted, UserDeleted, new_id


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def deleted(file_id: str) -> Envelope:
    return Envelope.wrap(FileDeleted(file_id=file_id, owner_id="u1"), source="test", correlation_id="c-1")


def recorder(into: list[Envelope]) -> Callable[[Envelope], Awaitable[None]]:
    async def handle(envelope: Envelope) -> None:
        into.append(envelope)

    return handle


def test_topic_matching() -> None:
    assert topic_matches("file.#", "file.parsed.v1")
    assert topic_matches("#", "user.deleted.v1")
    assert topic_matches("file.*.v1", "file.parsed.v1")
    assert not topic_matches("file.*", "file.parsed.v1")
    assert not topic_matches("user.#", "file.parsed.v1")
    assert topic_matches("file.parsed.v1", "file.parsed.v1")


async def test_routes_by_key_and_keeps_envelope(bus: Bus) -> None:
    got: list[Envelope] = []
    queue = f"test.{new_id()[:8]}"
    sub = await bus.subscribe(queue, ["file.deleted.v1"], recorder(got))
    sent = deleted("f1")
    await bus.publish(Envelope.wrap(UserDeleted(user_id="u9"), source="test"))  # not bound: not delivered
    await bus.publish(sent)
    await eventually(lambda: len(got) == 1)
    assert got[0].id == sent.id
    assert got[0].correlation_id == "c-1"
    assert got[0].payload() == FileDeleted(file_id="f1", owner_id="u1")
    await asyncio.sleep(0.2)
    assert len(got) == 1
    await sub.cancel()


async def test_competing_consumers_share_a_queue(bus: Bus) -> None:
    first: list[Envelope] = []
    second: list[Envelope] = []
    queue = f"test.{new_id()[:8]}"
    subs = [
        await bus.subscribe(queue, ["file.deleted.v1"], recorder(first), prefetch=1),
        await bus.subscribe(queue, ["file.deleted.v1"], recorder(second), prefetch=1),
    ]
    for i in range(20):
        await bus.publish(deleted(f"f{i}"))
    await eventually(lambda: len(first) + len(second) == 20)
    await asyncio.sleep(0.2)
    ids = [e.data["file_id"] for e in first + second]
    assert sorted(ids) == sorted(f"f{i}" for i in range(20))  # each message once
    for sub in subs:
        await sub.cancel()


async def test_exclusive_subscribers_each_see_every_event(bus: Bus) -> None:
    first: list[Envelope] = []
    second: list[Envelope] = []
    prefix = f"test.fanout.{new_id()[:8]}"
    subs = [
        await bus.subscribe(prefix, ["file.#"], recorder(first), exclusive=True),
        await bus.subscribe(prefix, ["file.#"], recorder(second), exclusive=True),
    ]
    for i in range(5):
        await bus.publish(deleted(f"f{i}"))
    await eventually(lambda: len(first) == 5 and len(second) == 5)
    for sub in subs:
        await sub.cancel()


async def test_failed_handler_gets_redelivery_then_dead_letter(bus: Bus) -> None:
    attempts: list[str] = []
    queue = f"test.{new_id()[:8]}"

    async def flaky(envelope: Envelope) -> None:
        attempts.append(envelope.id)
        if len(attempts) < 2:
            raise RuntimeError("transient")

    sub = await bus.subscribe(queue, ["file.deleted.v1"], flaky)
    await bus.publish(deleted("f1"))
    await eventually(lambda: len(attempts) == 2)
    await sub.cancel()

    always: list[str] = []

    async def broken(envelope: Envelope) -> None:
        always.append(envelope.id)
        raise RuntimeError("permanent")

    queue2 = f"test.{new_id()[:8]}"
    sub2 = await bus.subscribe(queue2, ["file.deleted.v1"], broken)
    await bus.publish(deleted("f2"))
    # The delivery limit is 3: the first delivery plus a bounded number of retries, then it stops.
    await eventually(lambda: len(always) >= 3)
    await asyncio.sleep(1.0)
    assert 3 <= len(always) <= 4
    await sub2.cancel()


async def test_reject_dead_letters_at_once(bus: Bus) -> None:
    attempts: list[str] = []
    queue = f"test.{new_id()[:8]}"

    async def poison(envelope: Envelope) -> None:
        attempts.append(envelope.id)
        raise Reject("cannot ever work")

    sub = await bus.subscribe(queue, ["file.deleted.v1"], poison)
    await bus.publish(deleted("f1"))
    await eventually(lambda: len(attempts) == 1)
    await asyncio.sleep(0.5)
    assert len(attempts) == 1
    await sub.cancel()


async def test_unacked_message_survives_a_consumer_going_away(bus: Bus) -> None:
    queue = f"test.{new_id()[:8]}"
    started = asyncio.Event()

    async def slow(envelope: Envelope) -> None:
        started.set()
        await asyncio.sleep(60)

    sub = await bus.subscribe(queue, ["file.deleted.v1"], slow, prefetch=1)
    await bus.publish(deleted("f1"))
    await asyncio.wait_for(started.wait(), 10)
    await sub.cancel()  # the handler never finished: nothing was acknowledged

    got: list[Envelope] = []
    sub2 = await bus.subscribe(queue, ["file.deleted.v1"], recorder(got))
    await eventually(lambda: len(got) == 1)
    assert got[0].data["file_id"] == "f1"
    await sub2.cancel()


async def test_ping(bus: Bus) -> None:
    assert await bus.ping()
