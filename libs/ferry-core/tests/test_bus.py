"""One behaviour suite for both buses: RabbitMQ and the in-memory one."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import unquote, urlparse

import pytest
from prometheus_client import REGISTRY

from ferry_core.bus import Bus, DeadLetter, Reject, Subscription, delay_bucket, topic_matches
from ferry_core.bus.amqp import AmqpBus
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


async def test_deliveries_record_event_lag_by_queue_name(bus: Bus) -> None:
    got: list[Envelope] = []
    prefix = f"test.lag.{new_id()[:8]}"
    subs = [
        await bus.subscribe(prefix, ["file.deleted.v1"], recorder(got)),
        await bus.subscribe(f"{prefix}.x", ["file.deleted.v1"], recorder(got), exclusive=True),
    ]
    await bus.publish(deleted("f1"))
    await eventually(lambda: len(got) == 2)
    for queue in (prefix, f"{prefix}.x"):  # an exclusive queue counts under the name subscribed to
        labels = {"queue": queue, "type": "file.deleted.v1"}
        assert REGISTRY.get_sample_value("ferry_event_lag_seconds_count", labels) == 1
        assert 0 <= (REGISTRY.get_sample_value("ferry_event_lag_seconds_sum", labels) or -1) < 10
    for sub in subs:
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


async def dead_letters_of(bus: Bus) -> tuple[list[DeadLetter], Subscription]:
    letters: list[DeadLetter] = []

    async def keep(letter: DeadLetter) -> None:
        letters.append(letter)

    return letters, await bus.subscribe_dead_letters(keep)


async def test_dead_letters_say_where_from_and_why(bus: Bus) -> None:
    letters, dead = await dead_letters_of(bus)
    queue = f"test.{new_id()[:8]}"

    async def broken(envelope: Envelope) -> None:
        if envelope.data["file_id"] == "poison":
            raise Reject("never")
        raise RuntimeError("always fails")

    sub = await bus.subscribe(queue, ["file.deleted.v1"], broken)
    failing, poison = deleted("failing"), deleted("poison")
    await bus.publish(failing)
    await bus.publish(poison)
    mine = lambda: [x for x in letters if x.queue == queue]  # noqa: E731 - the shared queue may hold others' letters
    await eventually(lambda: len(mine()) == 2, timeout=30)
    by_id = {x.envelope.id: x for x in mine() if x.envelope is not None}
    assert by_id[poison.id].reason == "rejected"
    assert by_id[failing.id].reason == "delivery_limit"
    assert by_id[failing.id].envelope == failing
    await sub.cancel()
    await dead.cancel()


async def test_send_to_queue_reaches_that_queue_only(bus: Bus) -> None:
    first: list[Envelope] = []
    second: list[Envelope] = []
    q1, q2 = f"test.{new_id()[:8]}", f"test.{new_id()[:8]}"
    subs = [
        await bus.subscribe(q1, ["file.deleted.v1"], recorder(first)),
        await bus.subscribe(q2, ["file.deleted.v1"], recorder(second)),
    ]
    sent = deleted("again")
    await bus.send_to_queue(q1, sent)
    await eventually(lambda: len(first) == 1)
    await asyncio.sleep(0.2)
    assert first[0].id == sent.id and second == []
    with pytest.raises(LookupError):
        await bus.send_to_queue(f"test.missing.{new_id()[:8]}", sent)
    for sub in subs:
        await sub.cancel()


def test_delay_buckets_are_powers_of_two_at_or_above_the_delay() -> None:
    assert [delay_bucket(d) for d in (0, 0.001, 0.3, 0.512, 0.513, 1.0, 3600)] == [1, 1, 512, 512, 1024, 1024, 2**22]


async def test_send_later_arrives_after_its_delay_never_before(bus: Bus) -> None:
    arrived: dict[str, float] = {}
    queue, other = f"test.{new_id()[:8]}", f"test.{new_id()[:8]}"

    async def note(envelope: Envelope) -> None:
        arrived[envelope.data["file_id"]] = time.monotonic()

    elsewhere: list[Envelope] = []
    subs = [
        await bus.subscribe(queue, ["file.deleted.v1"], note),
        await bus.subscribe(other, ["file.deleted.v1"], recorder(elsewhere)),
    ]
    start = time.monotonic()
    # Two delays in one bucket (512 ms), the longer sent first, and one in a bucket of its own.
    await bus.send_later(queue, deleted("late"), 0.5)
    await bus.send_later(queue, deleted("shorter"), 0.3)
    await bus.send_later(queue, deleted("longest"), 1.2)
    await bus.send_later(queue, deleted("now"), 0)
    await eventually(lambda: len(arrived) == 4)
    took = {key: at - start for key, at in arrived.items()}
    assert took["now"] < 0.3
    assert 0.5 <= took["late"] < 2.0
    assert 0.3 <= took["shorter"] < 2.0  # waited behind "late" at most: late, never early
    assert 1.2 <= took["longest"] < 3.5
    assert elsewhere == []  # one queue only, like send_to_queue
    with pytest.raises(LookupError):
        await bus.send_later(f"test.missing.{new_id()[:8]}", deleted("x"), 0.1)
    for sub in subs:
        await sub.cancel()


async def test_send_later_keeps_the_message_while_nobody_consumes(bus: Bus) -> None:
    queue = f"test.{new_id()[:8]}"
    got: list[Envelope] = []
    sub = await bus.subscribe(queue, ["file.deleted.v1"], recorder(got))
    await sub.cancel()  # the queue stays; nobody takes from it
    sent = deleted("kept")
    await bus.send_later(queue, sent, 0.2)
    await eventually_async(lambda: _depth_is(bus, queue, 1))
    sub = await bus.subscribe(queue, ["file.deleted.v1"], recorder(got))
    await eventually(lambda: len(got) == 1)
    assert got[0] == sent
    await sub.cancel()


async def test_queue_depth_counts_waiting_messages(bus: Bus) -> None:
    queue = f"test.{new_id()[:8]}"
    assert await bus.queue_depth(queue) is None
    got: list[Envelope] = []
    sub = await bus.subscribe(queue, ["file.deleted.v1"], recorder(got))
    await sub.cancel()  # the queue stays, nobody consumes it
    assert await bus.queue_depth(queue) == 0
    for i in range(3):
        await bus.publish(deleted(f"f{i}"))
    await eventually_async(lambda: _depth_is(bus, queue, 3))
    sub = await bus.subscribe(queue, ["file.deleted.v1"], recorder(got))
    await eventually(lambda: len(got) == 3)
    await eventually_async(lambda: _depth_is(bus, queue, 0))
    await sub.cancel()


async def _depth_is(bus: Bus, queue: str, expected: int) -> bool:
    return await bus.queue_depth(queue) == expected


async def eventually_async(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_cancel_with_grace_lets_the_message_in_hand_finish(bus: Bus) -> None:
    queue = f"test.{new_id()[:8]}"
    started = asyncio.Event()
    finished: list[str] = []

    async def slowish(envelope: Envelope) -> None:
        started.set()
        await asyncio.sleep(0.5)
        finished.append(envelope.data["file_id"])

    sub = await bus.subscribe(queue, ["file.deleted.v1"], slowish, prefetch=1)
    await bus.publish(deleted("f1"))
    await bus.publish(deleted("f2"))
    await asyncio.wait_for(started.wait(), 10)
    await sub.cancel(grace=10)
    assert finished == ["f1"]  # finished, and acknowledged: the second stays queued
    got: list[Envelope] = []
    sub2 = await bus.subscribe(queue, ["file.deleted.v1"], recorder(got))
    await eventually(lambda: len(got) == 1)
    await asyncio.sleep(0.3)
    assert [e.data["file_id"] for e in got] == ["f2"]
    await sub2.cancel()


async def test_amqp_bus_reconnects_and_consumers_resume(amqp_url: str) -> None:
    name = f"ferry-test-{new_id()[:8]}"
    bus = AmqpBus(amqp_url, name=name)
    await bus.start()
    try:
        got: list[Envelope] = []
        queue = f"test.{new_id()[:8]}"
        sub = await bus.subscribe(queue, ["file.deleted.v1"], recorder(got))
        await bus.publish(deleted("before"))
        await eventually(lambda: len(got) == 1)
        with broker_refusing(amqp_url):
            close_connections_named(name)
            await eventually_async(lambda: _not(bus.ping()), timeout=5)
        await eventually_async(bus.ping, timeout=20)  # reconnected by itself
        await bus.publish(deleted("after"))
        await eventually(lambda: len(got) == 2, timeout=20)
        await sub.cancel()
    finally:
        await bus.close()


async def _not(check: Awaitable[bool]) -> bool:
    return not await check


@contextlib.contextmanager
def broker_refusing(amqp_url: str) -> Iterator[None]:
    """The broker refuses this URL's user on its vhost inside the block, as a broker that is down would.

    A dropped connection alone is back within milliseconds (the first reconnect
    attempt is immediate), too soon to see a bus notice it was down.
    """
    url = urlparse(amqp_url)
    vhost, user = unquote(url.path[1:]) or "/", url.username or "guest"
    _rabbitmqctl("clear_permissions", "-p", vhost, user)
    try:
        yield
    finally:
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def close_connections_named(name: str) -> None:
    """Make the broker drop this client's connection (as a broker restart would), and no one else's."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    pids = [line.split("\t")[0] for line in listed.splitlines() if f'"{name}"' in line or f'<<"{name}">>' in line]
    assert pids, f"no connection named {name}"
    for pid in pids:
        subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test"], check=True, capture_output=True)
