"""The WebSocket and SSE endpoints, over a real uvicorn server, real sockets and a real MongoDB-wire server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.exceptions import ConnectionClosedOK

from ferry_core.bus.memory import MemoryBus
from ferry_core.events import FileDeleted, FileStatus, Stage
from ferry_testkit.events import file_failed, file_parsed, file_progress, file_uploaded

WAIT = 10.0


# -- one file: /ws/{file_id} ------------------------------------------------------------


async def test_file_socket_sends_current_state_first(notifier):
    file_id = await notifier.seed_file("alice", status=FileStatus.PARSING, progress=40)
    async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
        first = await notifier.receive(ws)
    assert first == {
        "type": "status_update",
        "data": {
            "file_id": file_id,
            "status": "parsing",
            "progress": 40,
            "stage": "parse",
            "bytes_done": 1024,
            "bytes_total": 1024,
            "rows_done": 0,
            "pages_done": 0,
            "pages_total": None,
            "error": None,
            "filename": "report.csv",
            "updated_at": first["data"]["updated_at"],
        },
    }


async def test_progress_and_parsed_arrive_in_order(notifier):
    file_id = await notifier.seed_file("alice", status=FileStatus.QUEUED, progress=0, stage=Stage.QUEUE)
    async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
        assert (await notifier.receive(ws))["data"]["status"] == "queued"
        for pct in (25, 50, 75):
            await notifier.publish(file_progress(file_id, "alice", pct))
        await notifier.publish(file_parsed(file_id, "alice", rows=1234))
        messages = [await notifier.receive(ws) for _ in range(4)]
    assert [(m["type"], m["data"]["status"], m["data"]["progress"]) for m in messages] == [
        ("progress_update", "parsing", 25),
        ("progress_update", "parsing", 50),
        ("progress_update", "parsing", 75),
        ("status_update", "parsed", 100),
    ]
    assert messages[-1]["data"]["stage"] == "done"
    assert messages[-1]["data"]["rows_done"] == 1234


async def test_uploaded_and_failed_events_are_status_updates(notifier):
    file_id = await notifier.seed_file("alice", status=FileStatus.UPLOADING, progress=90, stage=Stage.UPLOAD)
    async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
        await notifier.receive(ws)
        await notifier.publish(file_uploaded(file_id, "alice", filename="report.csv", size=1024))
        await notifier.publish(file_failed(file_id, "alice", code="x", message="y"))
        queued, failed = await notifier.receive(ws), await notifier.receive(ws)
    assert (queued["type"], queued["data"]["status"], queued["data"]["stage"]) == ("status_update", "queued", "queue")
    assert (failed["type"], failed["data"]["status"]) == ("status_update", "failed")
    assert failed["data"]["error"] == {"code": "x", "message": "y"}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"status": FileStatus.PARSED, "progress": 100, "stage": Stage.DONE, "rows_done": 7}, ("parsed", None)),
        (
            {"status": FileStatus.FAILED, "progress": 30, "stage": Stage.PARSE, "error": {"code": "c", "message": "m"}},
            ("failed", {"code": "c", "message": "m"}),
        ),
    ],
)
async def test_a_late_subscriber_gets_the_terminal_status(notifier, record, expected):
    file_id = await notifier.seed_file("alice", **record)
    async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
        first = await notifier.receive(ws)
    assert first["type"] == "status_update"
    assert (first["data"]["status"], first["data"]["error"]) == expected


async def test_progress_after_parsed_is_dropped(notifier):
    file_id = await notifier.seed_file("alice")
    async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
        await notifier.receive(ws)
        await notifier.publish(file_parsed(file_id, "alice"))
        await notifier.publish(file_progress(file_id, "alice", 95))  # a straggler from before the parse finished
        await notifier.publish(FileDeleted(file_id=file_id, owner_id="alice"))  # marks the end of the stream
        after_parsed = [await notifier.receive(ws), await notifier.receive(ws)]
    assert [m["type"] for m in after_parsed] == ["status_update", "file_deleted"]


async def test_a_deleted_file_closes_its_socket_normally(notifier):
    file_id = await notifier.seed_file("alice")
    async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
        await notifier.receive(ws)
        await notifier.publish(FileDeleted(file_id=file_id, owner_id="alice"))
        assert await notifier.receive(ws) == {"type": "file_deleted", "data": {"file_id": file_id}}
        with pytest.raises(ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), WAIT)
    assert ws.close_code == 1000


async def test_ping_is_answered_with_pong(notifier):
    file_id = await notifier.seed_file("alice")
    async with notifier.socket(f"/ws/{file_id}", "alice") as ws:
        await notifier.receive(ws)
        await ws.send(json.dumps({"type": "ping"}))
        assert await notifier.receive(ws) == {"type": "pong"}
        await ws.send("not json")
        assert (await notifier.receive(ws))["type"] == "error"
    async with notifier.socket("/ws", "alice") as ws:
        await ws.send(json.dumps({"type": "ping"}))
        assert await notifier.receive(ws) == {"type": "pong"}


# -- refusing the handshake ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws", "/ws/some-file"])
async def test_a_socket_without_a_token_is_refused_401(notifier, path):
    status, body = await notifier.refused(path)
    assert status == 401
    assert body == {"detail": "missing access token or API key"}


@pytest.mark.parametrize("carrier", ["query", "header", "subprotocol"])
@pytest.mark.parametrize("path", ["/ws", "/ws/some-file"])
async def test_a_socket_with_a_bad_token_is_refused_401(notifier, carrier, path):
    forged = notifier.tokens.issue("alice", key=Ed25519PrivateKey.generate())
    for token in (forged, "not-a-jwt"):
        if carrier == "query":
            status, body = await notifier.refused(f"{path}?token={token}")
        elif carrier == "header":
            status, body = await notifier.refused(path, additional_headers={"Authorization": f"Bearer {token}"})
        else:
            status, body = await notifier.refused(path, subprotocols=["bearer", token])
        assert status == 401
        assert "detail" in body


async def test_an_expired_token_is_refused_401(notifier):
    expired = notifier.tokens.issue("alice", exp=1, iat=0)
    status, body = await notifier.refused(f"/ws?token={expired}")
    assert (status, body) == (401, {"detail": "token expired"})


@pytest.mark.parametrize("carrier", ["header", "subprotocol"])
async def test_every_token_carrier_is_accepted(notifier, carrier):
    file_id = await notifier.seed_file("alice")
    token = notifier.token("alice")
    if carrier == "header":
        options: dict[str, Any] = {"additional_headers": {"Authorization": f"Bearer {token}"}}
    else:
        options = {"subprotocols": ["bearer", token]}
    async with notifier.socket(f"/ws/{file_id}", **options) as ws:
        assert (await notifier.receive(ws))["data"]["file_id"] == file_id
        assert ws.subprotocol == ("bearer" if carrier == "subprotocol" else None)


async def test_another_users_file_or_a_missing_one_is_404(notifier):
    bobs = await notifier.seed_file("bob")
    gone = await notifier.seed_file("alice", deleting=True)
    for file_id in (bobs, gone, "no-such-file"):
        assert await notifier.refused(f"/ws/{file_id}", "alice") == (404, {"detail": "file not found"})


# -- all the caller's files: /ws -----------------------------------------------------


async def test_all_files_socket_sees_only_the_callers_files(notifier):
    alices = await notifier.seed_file("alice")
    bobs = await notifier.seed_file("bob")
    async with notifier.socket("/ws", "alice") as alice, notifier.socket("/ws", "bob") as bob:
        await notifier.publish(file_progress(bobs, "bob", 10))
        await notifier.publish(file_progress(alices, "alice", 20))
        assert (await notifier.receive(alice))["data"]["file_id"] == alices
        assert (await notifier.receive(bob))["data"]["file_id"] == bobs
        await notifier.publish(file_progress(alices, "alice", 30))
        assert (await notifier.receive(alice))["data"]["progress"] == 30  # bob's 10 never came in between


async def test_subscribe_and_unsubscribe_narrow_the_all_files_socket(notifier):
    first = await notifier.seed_file("alice", progress=5)
    second = await notifier.seed_file("alice", progress=6)
    bobs = await notifier.seed_file("bob")
    async with notifier.socket("/ws", "alice") as ws:
        await ws.send(json.dumps({"type": "subscribe", "file_id": first}))
        state = await notifier.receive(ws)
        assert (state["type"], state["data"]["file_id"], state["data"]["progress"]) == ("status_update", first, 5)

        await notifier.publish(file_progress(second, "alice", 50))  # narrowed away
        await notifier.publish(file_progress(first, "alice", 51))
        assert (await notifier.receive(ws))["data"]["file_id"] == first

        await ws.send(json.dumps({"type": "unsubscribe", "file_id": first}))
        assert await notifier.receive(ws) == {"type": "unsubscribed", "file_id": first}
        await ws.send(json.dumps({"type": "subscribe", "file_id": second}))
        assert (await notifier.receive(ws))["data"]["file_id"] == second

        await notifier.publish(file_progress(first, "alice", 60))
        await notifier.publish(file_progress(second, "alice", 61))
        assert (await notifier.receive(ws))["data"]["file_id"] == second

        await ws.send(json.dumps({"type": "subscribe", "file_id": bobs}))
        assert await notifier.receive(ws) == {"type": "error", "detail": "file not found", "file_id": bobs}


async def test_unsubscribe_on_the_all_files_socket_leaves_out_one_file(notifier):
    first = await notifier.seed_file("alice")
    second = await notifier.seed_file("alice")
    async with notifier.socket("/ws", "alice") as ws:
        await ws.send(json.dumps({"type": "unsubscribe", "file_id": first}))
        assert (await notifier.receive(ws))["type"] == "unsubscribed"
        await notifier.publish(file_progress(first, "alice", 10))
        await notifier.publish(file_progress(second, "alice", 20))
        assert (await notifier.receive(ws))["data"]["file_id"] == second


# -- Server-Sent Events ------------------------------------------------------------------


async def test_sse_streams_one_file(notifier):
    file_id = await notifier.seed_file("alice", progress=10)
    async with (
        httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client,
        client.stream("GET", "/events", params={"file_id": file_id, "token": notifier.token("alice")}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = notifier.sse_events(response)
        event, first = await asyncio.wait_for(anext(events), WAIT)
        assert event == "status_update"
        assert (first["type"], first["data"]["progress"]) == ("status_update", 10)
        await notifier.publish(file_progress(file_id, "alice", 70))
        await notifier.publish(file_parsed(file_id, "alice"))
        received = [await asyncio.wait_for(anext(events), WAIT) for _ in range(2)]
    assert [(e, m["data"]["status"], m["data"]["progress"]) for e, m in received] == [
        ("progress_update", "parsing", 70),
        ("status_update", "parsed", 100),
    ]


async def test_sse_streams_all_the_callers_files(notifier):
    alices = await notifier.seed_file("alice")
    bobs = await notifier.seed_file("bob")
    headers = {"Authorization": f"Bearer {notifier.token('alice')}"}
    async with (
        httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client,
        client.stream("GET", "/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        events = notifier.sse_events(response)
        await notifier.publish(file_progress(bobs, "bob", 10))
        await notifier.publish(file_progress(alices, "alice", 20))
        event, message = await asyncio.wait_for(anext(events), WAIT)
    assert (event, message["data"]["file_id"]) == ("progress_update", alices)


async def test_sse_refuses_like_http(notifier):
    bobs = await notifier.seed_file("bob")
    forged = notifier.tokens.issue("alice", key=Ed25519PrivateKey.generate())
    async with httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client:
        missing = await client.get("/events")
        bad = await client.get("/events", params={"token": forged})
        other = await client.get("/events", params={"file_id": bobs, "token": notifier.token("alice")})
    assert (missing.status_code, missing.json()) == (401, {"detail": "missing access token or API key"})
    assert missing.headers["www-authenticate"] == "Bearer"
    assert bad.status_code == 401
    assert (other.status_code, other.json()) == (404, {"detail": "file not found"})


async def test_sse_keeps_an_idle_stream_alive(launch):
    bus = MemoryBus()
    async with launch(bus, sse_keepalive_seconds=0.2) as notifier:
        params = {"token": notifier.token("alice")}
        async with (
            httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client,
            client.stream("GET", "/events", params=params) as response,
        ):
            lines = response.aiter_lines()
            seen = [await asyncio.wait_for(anext(lines), WAIT) for _ in range(4)]
    assert ": keepalive" in seen
