"""A batch followed live: upload three files into a batch and watch WS /ws/batches/{id} to its completion.

The services run as separate processes against RabbitMQ, MongoDB and S3; the
socket is opened before anything happened to the batch, so the notifier knows
nothing of it yet and delivers from its first event.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import platform
from tests.e2e.journey import receive, register_and_login

TABLE = "id,name\n" + "".join(f"{i},name-{i}\n" for i in range(50))
WAIT = 60.0


async def follow_to_completion(ws: Any, timeout: float = WAIT) -> list[dict[str, Any]]:
    """Messages up to and including ``batch_completed``."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1]["type"] != "batch_completed":
        seen.append(await receive(ws, max(0.1, deadline - time.monotonic())))
    return seen


async def test_a_batch_is_followed_live_to_completion(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path: Path
) -> None:
    db, bucket = f"ferry_batch_{new_id()[:10]}", f"ferry-batch-{new_id()[:10]}"
    s3 = (s3_server.endpoint, s3_server.access_key, s3_server.secret_key)
    with platform.distributed(amqp_url, mongo_url, *s3, bucket, db, tmp_path) as (urls, _):
        async with httpx.AsyncClient(timeout=30) as http:
            ada = await register_and_login(http, urls, f"ada{new_id()[:8]}")
            eve = await register_and_login(http, urls, f"eve{new_id()[:8]}")
            opened = await http.post(f"{urls.files}/batches", headers=ada.headers, json={"name": "live"})
            assert opened.status_code == 201, opened.text
            batch_id = opened.json()["batch_id"]

            async with connect(f"{urls.ws}/ws/batches/{batch_id}?token={ada.access}") as ws:
                for n in range(3):
                    response = await http.post(
                        f"{urls.files}/files",
                        headers=ada.headers,
                        data={"batch_id": batch_id},
                        files={"file": (f"part-{n}.csv", TABLE.encode(), "text/csv")},
                    )
                    assert response.status_code == 201, response.text
                messages = await follow_to_completion(ws)
                await ws.send(json.dumps({"type": "ping"}))
                after = [await receive(ws)]
                while after[-1]["type"] != "pong":
                    after.append(await receive(ws))

            updates = [m["data"] for m in messages if m["type"] == "batch_update"]
            revisions = [u["revision"] for u in updates]
            assert revisions == sorted(set(revisions)), revisions  # newer figures only, each once
            assert updates[-1]["complete"] is True
            assert updates[-1]["counts"] == {"parsed": 3} and updates[-1]["files"] == 3
            assert updates[-1]["rows"] == 150 and updates[-1]["progress"] == 100
            assert messages[-1] == {"type": "batch_completed", "data": {"batch_id": batch_id, "counts": {"parsed": 3}}}
            assert all(m["type"] != "batch_completed" for m in messages[:-1] + after)  # exactly once

            # A late subscriber gets the newest figures and the completion; another user is told it does not exist.
            async with connect(f"{urls.ws}/ws/batches/{batch_id}?token={ada.access}") as late:
                first, second = await receive(late), await receive(late)
            # Figures are snapshots: a send racing the final one may number the same figures higher.
            assert first["type"] == "batch_update" and first["data"]["revision"] >= revisions[-1]
            assert {k: v for k, v in first["data"].items() if k != "revision"} == {
                k: v for k, v in updates[-1].items() if k != "revision"
            }
            assert second["type"] == "batch_completed"
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{urls.ws}/ws/batches/{batch_id}?token={eve.access}"):
                    pass
            assert refused.value.response.status_code == 404
