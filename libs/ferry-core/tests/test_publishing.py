import asyncio

from ferry_core.bus.memory import MemoryBus
from ferry_core.events import Envelope, UserDeleted
from ferry_core.observability import EVENTS_PUBLISHED, correlation_id_var
from ferry_core.publishing import publish_event


async def test_an_event_goes_out_wrapped_correlated_and_counted() -> None:
    bus = MemoryBus()
    heard: list[Envelope] = []

    async def hear(envelope: Envelope) -> None:
        heard.append(envelope)

    await bus.subscribe("test.publishing", ["user.deleted.v1"], hear)
    counted = EVENTS_PUBLISHED.labels("auth", "user.deleted.v1")._value.get()
    token = correlation_id_var.set("c-42")
    try:
        sent = await publish_event(bus, UserDeleted(user_id="u1"), service="auth", subject="u1", org_id="o1")
    finally:
        correlation_id_var.reset(token)
    for _ in range(200):  # the memory bus delivers on its own task
        if heard:
            break
        await asyncio.sleep(0.01)
    assert [e.id for e in heard] == [sent.id]
    assert (sent.type, sent.source, sent.subject, sent.correlation_id, sent.org_id) == (
        "user.deleted.v1",
        "ferry-auth",
        "u1",
        "c-42",
        "o1",
    )
    assert EVENTS_PUBLISHED.labels("auth", "user.deleted.v1")._value.get() == counted + 1
    await bus.close()
