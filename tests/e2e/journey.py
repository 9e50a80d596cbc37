"""The journey of DESIGN.md and issue 2, as an API client makes it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.e2e.platform import ADMIN_PASSWORD, ADMIN_USERNAME, Urls

CSV = (
    "id,name,city,score,active,joined\n"
    "1,Zoë,Zürich,9.5,true,2024-01-02\n"
    "2,Łukasz,Kraków,7.25,false,2023-12-31\n"
    "3,Ana,São Paulo,8,true,2022-06-15\n"
).encode()

RECORDS = [{"sku": f"A-{i}", "qty": i, "price": i * 1.5} for i in range(250)]
PASSWORD = "a-long-enough-passphrase"


@dataclass
class Account:
    username: str
    access: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


async def register_and_login(client: httpx.AsyncClient, urls: Urls, username: str) -> Account:
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD, "full_name": username}
    created = await client.post(f"{urls.auth}/auth/register", json=body)
    assert created.status_code == 201, created.text
    again = await client.post(f"{urls.auth}/auth/register", json={**body, "username": username.upper()})
    assert again.status_code == 409, again.text

    login = await client.post(f"{urls.auth}/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    tokens = login.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] > 0

    form = await client.post(f"{urls.auth}/auth/token", data={"username": username, "password": PASSWORD})
    assert form.status_code == 200, form.text
    assert form.json()["access_token"]

    wrong = await client.post(f"{urls.auth}/auth/login", json={"username": username, "password": "not-the-password"})
    assert wrong.status_code == 401

    account = Account(username, tokens["access_token"], tokens["refresh_token"])
    me = await client.get(f"{urls.auth}/users/me", headers=account.headers)
    assert me.status_code == 200, me.text
    assert me.json()["username"] == username
    return account


async def upload(client: httpx.AsyncClient, urls: Urls, account: Account, name: str, data: bytes) -> dict[str, Any]:
    response = await client.post(
        f"{urls.files}/files", headers=account.headers, files={"file": (name, data, "application/octet-stream")}
    )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    assert record["filename"] == name
    assert record["size"] == len(data)
    assert record["status"] in ("queued", "parsing", "parsed")
    return record


async def receive(ws: ClientConnection, timeout: float = 30.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


async def until_terminal(ws: ClientConnection, file_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Messages for ``file_id`` up to and including its terminal status."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        message = await receive(ws, max(0.1, deadline - time.monotonic()))
        if message.get("data", {}).get("file_id") != file_id:
            continue
        seen.append(message)
        if message["type"] == "status_update" and message["data"]["status"] in ("parsed", "failed"):
            return seen


async def poll(check: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


async def run_journey(urls: Urls) -> dict[str, Any]:
    """Walk the whole journey; returns ids the caller may check further (storage cleanup)."""
    async with httpx.AsyncClient(timeout=30) as client:
        ada = await register_and_login(client, urls, f"ada{int(time.time() * 1000) % 10**8}")
        bob = await register_and_login(client, urls, f"bob{int(time.time() * 1000) % 10**8}")

        # Subscribe to all of Ada's files first, so live updates of the next upload are seen.
        async with connect(f"{urls.ws}/ws?token={ada.access}") as all_files:
            record = await upload(client, urls, ada, "people.csv", CSV)
            file_id = record["file_id"]
            live = await until_terminal(all_files, file_id)
        assert live[-1]["data"]["status"] == "parsed", live
        assert any(m["type"] == "progress_update" for m in live) or len(live) >= 2, live
        progress_values = [m["data"]["progress"] for m in live]
        assert progress_values == sorted(progress_values), "progress never moves backwards"

        # A late subscriber gets the current (terminal) state first.
        async with connect(
            f"{urls.ws}/ws/{file_id}", additional_headers={"Authorization": f"Bearer {ada.access}"}
        ) as one_file:
            first = await receive(one_file)
            assert first["type"] == "status_update"
            assert first["data"]["status"] == "parsed"
            assert first["data"]["progress"] == 100
            await one_file.send(json.dumps({"type": "ping"}))
            while (await receive(one_file))["type"] != "pong":
                pass

        # Read back.
        detail = (await client.get(f"{urls.files}/files/{file_id}", headers=ada.headers)).json()
        assert detail["status"] == "parsed"
        assert detail["summary"]["kind"] == "table"
        assert detail["summary"]["rows"] == 3
        assert [c["name"] for c in detail["summary"]["columns"]] == ["id", "name", "city", "score", "active", "joined"]
        types = {c["name"]: c["type"] for c in detail["summary"]["columns"]}
        assert types["id"] == "integer" and types["score"] == "float" and types["name"] == "string"
        assert detail["content"]["rows"][0][:3] == [1, "Zoë", "Zürich"]

        page = await client.get(f"{urls.files}/files/{file_id}/content?offset=1&limit=1", headers=ada.headers)
        assert page.status_code == 200, page.text
        assert page.json()["total"] == 3
        assert page.json()["rows"] == [[2, "Łukasz", "Kraków", 7.25, False, "2023-12-31"]]

        progress = (await client.get(f"{urls.files}/files/{file_id}/progress", headers=ada.headers)).json()
        assert progress["status"] == "parsed" and progress["progress"] == 100 and progress["file_id"] == file_id

        download = await client.get(f"{urls.files}/files/{file_id}/download", headers=ada.headers)
        assert download.status_code == 200
        assert download.content == CSV

        listing = (await client.get(f"{urls.files}/files?limit=10", headers=ada.headers)).json()
        assert [item["file_id"] for item in listing["items"]] == [file_id]
        assert listing["total"] == 1

        # A JSON array of objects becomes a table of many chunks.
        json_record = await upload(client, urls, ada, "stock.json", json.dumps(RECORDS).encode())

        async def json_parsed() -> dict[str, Any] | None:
            body = (await client.get(f"{urls.files}/files/{json_record['file_id']}", headers=ada.headers)).json()
            return body if body["status"] in ("parsed", "failed") else None

        parsed_json = await poll(json_parsed)
        assert parsed_json["status"] == "parsed", parsed_json
        assert parsed_json["summary"]["rows"] == 250
        tail = await client.get(
            f"{urls.files}/files/{json_record['file_id']}/content?offset=245&limit=10", headers=ada.headers
        )
        assert tail.json()["rows"][-1] == ["A-249", 249, 373.5]

        # Bad content fails with a clear message, seen over SSE-free polling.
        bad = b"".join(json.dumps({"n": i}).encode() + b"\n" for i in range(80)) + b"{not json\n"
        bad_record = await upload(client, urls, ada, "broken.jsonl", bad)

        async def failed() -> dict[str, Any] | None:
            body = (await client.get(f"{urls.files}/files/{bad_record['file_id']}", headers=ada.headers)).json()
            return body if body["status"] in ("parsed", "failed") else None

        failure = await poll(failed)
        assert failure["status"] == "failed", failure
        assert failure["error"]["code"] and failure["error"]["message"]

        # Isolation: another user's file is a 404 everywhere; no token or a bad one is 401.
        for path in ("", "/content", "/progress", "/download"):
            other = await client.get(f"{urls.files}/files/{file_id}{path}", headers=bob.headers)
            assert other.status_code == 404, (path, other.text)
        assert (await client.delete(f"{urls.files}/files/{file_id}", headers=bob.headers)).status_code == 404
        assert (await client.get(f"{urls.files}/files", headers=bob.headers)).json()["total"] == 0
        assert (await client.get(f"{urls.files}/files")).status_code == 401
        bad_token = {"Authorization": "Bearer not.a.token"}
        assert (await client.get(f"{urls.files}/files", headers=bad_token)).status_code == 401
        assert (await client.get(f"{urls.auth}/users/me", headers=bad_token)).status_code == 401
        for uri, status in ((f"{urls.ws}/ws/{file_id}?token={bob.access}", 404), (f"{urls.ws}/ws/{file_id}", 401)):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(uri) as ws:
                    await receive(ws, 5)
            assert refused.value.response.status_code == status

        # Unsupported binary content is refused at upload.
        refused = await client.post(
            f"{urls.files}/files", headers=ada.headers, files={"file": ("x.csv", b"\x00\x01\x02binary\x00" * 50)}
        )
        assert refused.status_code == 415, refused.text

        # Delete: record, blob and parsed data go.
        deleted = await client.delete(f"{urls.files}/files/{file_id}", headers=ada.headers)
        assert deleted.status_code == 204
        assert (await client.get(f"{urls.files}/files/{file_id}", headers=ada.headers)).status_code == 404
        assert (await client.get(f"{urls.files}/files/{file_id}/download", headers=ada.headers)).status_code == 404

        await api_key_for_a_machine_client(client, urls, ada, bob)
        await delete_user_and_their_files(client, urls, bob)
        return {"deleted_file_id": file_id, "kept_file_id": json_record["file_id"], "account": ada}


async def api_key_for_a_machine_client(client: httpx.AsyncClient, urls: Urls, user: Account, other: Account) -> None:
    """A user makes an API key, a script uses it on the files API, the user revokes it, and it stops working."""
    created = await client.post(f"{urls.auth}/auth/api-keys", json={"name": "nightly import"}, headers=user.headers)
    assert created.status_code == 201, created.text
    key_id, secret = created.json()["id"], created.json()["key"]
    listing = await client.get(f"{urls.auth}/auth/api-keys", headers=user.headers)
    assert [item["id"] for item in listing.json()["items"]] == [key_id]
    assert secret not in listing.text
    assert (await client.delete(f"{urls.auth}/auth/api-keys/{key_id}", headers=other.headers)).status_code == 404

    machine = {"X-API-Key": secret}

    async def key_accepted() -> bool:
        return (await client.get(f"{urls.files}/files", headers=machine)).status_code == 200

    await poll(key_accepted, timeout=10)  # auth announces the key; the gateway learns it from the bus
    uploaded = await client.post(
        f"{urls.files}/files", headers=machine, files={"file": ("by-key.csv", CSV, "application/octet-stream")}
    )
    assert uploaded.status_code == 201, uploaded.text
    file_id = uploaded.json()["file_id"]
    as_owner = await client.get(f"{urls.files}/files/{file_id}", headers=user.headers)
    assert as_owner.status_code == 200 and as_owner.json()["filename"] == "by-key.csv"
    assert (await client.get(f"{urls.files}/files/{file_id}", headers=other.headers)).status_code == 404
    assert (await client.get(f"{urls.files}/files/{file_id}/download", headers=machine)).content == CSV
    mine = (await client.get(f"{urls.files}/files?limit=100", headers=machine)).json()
    assert file_id in {item["file_id"] for item in mine["items"]}
    assert (await client.delete(f"{urls.files}/files/{file_id}", headers=machine)).status_code == 204

    revoked = await client.delete(f"{urls.auth}/auth/api-keys/{key_id}", headers=user.headers)
    assert revoked.status_code == 204

    async def key_refused() -> bool:
        response = await client.get(f"{urls.files}/files", headers=machine)
        return response.status_code == 401 and "www-authenticate" in response.headers

    started = time.monotonic()
    await poll(key_refused, timeout=5, interval=0.1)
    assert time.monotonic() - started < 5
    garbage = await client.get(f"{urls.files}/files", headers={"X-API-Key": "fry_not-a-real-key"})
    assert garbage.status_code == 401 and garbage.json()["detail"]


async def delete_user_and_their_files(client: httpx.AsyncClient, urls: Urls, user: Account) -> None:
    """An admin deletes a user: auth announces it, and the gateway deletes that user's files."""
    record = await upload(client, urls, user, "mine.csv", CSV)
    login = await client.post(f"{urls.auth}/auth/login", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert login.status_code == 200, login.text
    admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    me = (await client.get(f"{urls.auth}/users/me", headers=user.headers)).json()
    assert (await client.delete(f"{urls.auth}/users/{me['id']}", headers=user.headers)).status_code == 403
    assert (await client.delete(f"{urls.auth}/users/{me['id']}", headers=admin)).status_code == 204

    async def files_gone() -> bool:
        response = await client.get(f"{urls.files}/files/{record['file_id']}", headers=admin)
        return response.status_code == 404

    await poll(files_gone)
    again = await client.post(f"{urls.auth}/auth/login", json={"username": user.username, "password": PASSWORD})
    assert again.status_code == 401
