"""A ``file.parsed`` body's ``file`` says parsed even when the gateway has not recorded the parse yet.

The matcher reads the file's top fields from ``files`` when the event arrives, but the
gateway writes the parse's outcome into that record from the same event, concurrently (found
end to end: about half of the bodies said ``parsing`` beside a summary). Here the record is
left as the gateway had it before its projection ran, which makes the race certain.
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.infra import Document
from ferry_notifier.webhooks.deliveries import delivery_id

from .webhook_receiver import receiving
from .webhook_support import policy, running


async def test_a_parsed_body_says_parsed_even_before_the_gateway_has_recorded_it(
    amqp_url: str, mongo_db: AsyncDatabase[Document]
) -> None:
    async with receiving() as receiver, running(amqp_url, mongo_db, policy()) as hooks:
        endpoint = await hooks.endpoint(f"{receiver.url}/hook", events=("file.parsed",))
        file_id = await hooks.seed_file()
        await hooks.db["files"].update_one(
            {"_id": file_id}, {"$set": {"status": "parsing", "progress": 40, "stage": "parse"}}
        )
        event = hooks.parsed(file_id)
        await hooks.bus.publish(event)
        done = await hooks.delivery_where(delivery_id(event.id, endpoint["_id"]), lambda d: d["status"] == "succeeded")
        data = done["payload"]["data"]
        assert data["summary"]["rows"] == 3
        assert data["file"]["status"] == "parsed"
        assert data["file"]["summary"] == data["summary"]
