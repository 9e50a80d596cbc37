"""Ownership everywhere: every endpoint that names a file serves its owner and an admin, and is a 404 to anyone else.

One table walks the gateway (by bearer token and by ``X-API-Key``) and the
notifier (WebSocket per file, ``subscribe`` on ``/ws``, SSE; bearer tokens only,
API keys are for the files API) as owner, another user and an admin, against
the services as separate processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import platform
from tests.e2e.journey import PASSWORD, poll

WAIT = 15.0
OWNER, OTHER, ADMIN = "owner", "other", "admin"
# A table big enough that counting it in someone's stats shows in their byte total.
TABLE = ("id,name,score\n" + "".join(f"{i},name-{i},{i * 1.5}\n" for i in range(400))).encode()
SMALL = b"id,name\n1,bob\n"


@dataclass
class Caller:
    access: str
    api_key: str

    def headers(self, credential: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"} if credential == "bearer" else {"X-API-Key": self.api_key}


@dataclass
class Scene:
    urls: platform.Urls
    http: httpx.AsyncClient
    callers: dict[str, Caller]
    file_id: str  # the owner's parsed table
    file_size: int

    async def upload(self, who: str, name: str, data: bytes) -> str:
        response = await self.http.post(
            f"{self.urls.files}/files",
            headers=self.callers[who].headers("bearer"),
            files={"file": (name, data, "text/csv")},
        )
        assert response.status_code == 201, response.text
        file_id: str = response.json()["file_id"]
        return file_id

    async def parsed(self, who: str, file_id: str) -> None:
        async def done() -> bool:
            url = f"{self.urls.files}/files/{file_id}/progress"
            response = await self.http.get(url, headers=self.callers[who].headers("bearer"))
            return bool(response.json()["status"] == "parsed")

        await poll(done, timeout=60)


# A probe makes one request as `who` with `credential` and says what it saw: a status code, or a word.
Probe = Callable[[Scene, str, str], Awaitable[str]]


def _get(suffix: str) -> Probe:
    async def probe(scene: Scene, who: str, credential: str) -> str:
        url = f"{scene.urls.files}/files/{scene.file_id}{suffix}"
        response = await scene.http.get(url, headers=scene.callers[who].headers(credential))
        if response.status_code == 200 and suffix in ("", "/content", "/progress"):
            assert response.json()["file_id"] == scene.file_id, response.text
        return str(response.status_code)

    return probe


async def _download(scene: Scene, who: str, credential: str) -> str:
    url = f"{scene.urls.files}/files/{scene.file_id}/download"
    response = await scene.http.get(url, headers=scene.callers[who].headers(credential))
    if response.status_code == 200:
        assert response.content == TABLE
    return str(response.status_code)


def _listed(path: str) -> Probe:
    async def probe(scene: Scene, who: str, credential: str) -> str:
        params = {"q": "ownership-"} if path == "/files/search" else {"limit": 1000}
        response = await scene.http.get(
            f"{scene.urls.files}{path}", params=params, headers=scene.callers[who].headers(credential)
        )
        assert response.status_code == 200, response.text
        return "listed" if scene.file_id in {item["file_id"] for item in response.json()["items"]} else "absent"

    return probe


async def _stats(scene: Scene, who: str, credential: str) -> str:
    response = await scene.http.get(f"{scene.urls.files}/files/stats", headers=scene.callers[who].headers(credential))
    assert response.status_code == 200, response.text
    return "counted" if response.json()["total_bytes"] >= scene.file_size else "absent"


async def _cancel(scene: Scene, who: str, credential: str) -> str:
    url = f"{scene.urls.files}/files/{scene.file_id}/cancel"
    return str((await scene.http.post(url, headers=scene.callers[who].headers(credential))).status_code)


async def _delete(scene: Scene, who: str, credential: str) -> str:
    """Each caller aims at a fresh file of the owner's, so that one delete does not hide the next one's answer."""
    doomed = await scene.upload(OWNER, f"ownership-doomed-{new_id()[:6]}.csv", SMALL)
    url = f"{scene.urls.files}/files/{doomed}"
    status = (await scene.http.delete(url, headers=scene.callers[who].headers(credential))).status_code
    after = (await scene.http.get(url, headers=scene.callers[OWNER].headers("bearer"))).status_code
    return f"{status}, then {after}"


async def _ws_file(scene: Scene, who: str, _: str) -> str:
    uri = f"{scene.urls.ws}/ws/{scene.file_id}?token={scene.callers[who].access}"
    try:
        async with connect(uri, open_timeout=WAIT) as ws:
            first = json.loads(await ws.recv(decode=True))
    except InvalidStatus as refused:
        return str(refused.response.status_code)
    assert (first["type"], first["data"]["file_id"]) == ("status_update", scene.file_id), first
    return "200"


async def _ws_subscribe(scene: Scene, who: str, _: str) -> str:
    """``subscribe`` on ``/ws``: the file's current state, or an error naming it."""
    async with connect(f"{scene.urls.ws}/ws?token={scene.callers[who].access}", open_timeout=WAIT) as ws:
        await ws.send(json.dumps({"type": "subscribe", "file_id": scene.file_id}))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            message = json.loads(await ws.recv(decode=True))
            if message.get("type") == "error" and message.get("file_id") == scene.file_id:
                return "404" if message.get("detail") == "file not found" else f"error {message.get('detail')}"
            if message.get("type") == "status_update" and message["data"]["file_id"] == scene.file_id:
                return "200"
    return "no answer"


async def _sse(scene: Scene, who: str, _: str) -> str:
    params = {"file_id": scene.file_id, "token": scene.callers[who].access}
    async with scene.http.stream("GET", f"{scene.urls.notifier}/events", params=params) as response:
        if response.status_code != 200:
            return str(response.status_code)
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                message = json.loads(line.removeprefix("data:"))
                assert message["data"]["file_id"] == scene.file_id, message
                return "200"
    return "no event"


@dataclass(frozen=True)
class Row:
    endpoint: str
    probe: Probe
    owner: str
    other: str
    admin: str
    by_api_key: bool = True


TABLE_OF_ENDPOINTS = [
    Row("GET /files/{id}", _get(""), "200", "404", "200"),
    Row("GET /files/{id}/content", _get("/content"), "200", "404", "200"),
    Row("GET /files/{id}/progress", _get("/progress"), "200", "404", "200"),
    Row("GET /files/{id}/download", _download, "200", "404", "200"),
    Row("GET /files/{id}/export", _get("/export"), "200", "404", "200"),
    Row("POST /files/{id}/cancel", _cancel, "409", "404", "409"),  # parsed: too late, but the caller may ask
    Row("DELETE /files/{id}", _delete, "204, then 404", "404, then 200", "204, then 404"),
    Row("GET /files", _listed("/files"), "listed", "absent", "listed"),
    Row("GET /files/search", _listed("/files/search"), "listed", "absent", "listed"),
    Row("GET /files/stats", _stats, "counted", "absent", "counted"),
    Row("WS /ws/{id}", _ws_file, "200", "404", "200", by_api_key=False),
    Row("WS /ws subscribe", _ws_subscribe, "200", "404", "200", by_api_key=False),
    Row("GET /events?file_id=", _sse, "200", "404", "200", by_api_key=False),
]


async def _sign_in(http: httpx.AsyncClient, urls: platform.Urls, username: str, password: str) -> Caller:
    login = await http.post(f"{urls.auth}/auth/login", json={"username": username, "password": password})
    assert login.status_code == 200, login.text
    access = login.json()["access_token"]
    key = await http.post(
        f"{urls.auth}/auth/api-keys", headers={"Authorization": f"Bearer {access}"}, json={"name": "ownership"}
    )
    assert key.status_code == 201, key.text
    caller = Caller(access=access, api_key=key.json()["key"])

    async def key_projected() -> bool:  # the gateway learns keys from auth's events
        return (await http.get(f"{urls.files}/files", headers=caller.headers("key"))).status_code == 200

    await poll(key_projected)
    return caller


async def test_every_endpoint_serves_the_owner_and_an_admin_and_hides_the_file_from_others(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path: Path
) -> None:
    db, bucket = f"ferry_own_{new_id()[:10]}", f"ferry-own-{new_id()[:10]}"
    s3 = (s3_server.endpoint, s3_server.access_key, s3_server.secret_key)
    with platform.distributed(amqp_url, mongo_url, *s3, bucket, db, tmp_path) as (urls, _):
        async with httpx.AsyncClient(timeout=WAIT) as http:
            callers: dict[str, Caller] = {}
            for who in (OWNER, OTHER):
                username = f"{who}{new_id()[:8]}"
                body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
                assert (await http.post(f"{urls.auth}/auth/register", json=body)).status_code == 201
                callers[who] = await _sign_in(http, urls, username, PASSWORD)
            callers[ADMIN] = await _sign_in(http, urls, platform.ADMIN_USERNAME, platform.ADMIN_PASSWORD)
            scene = Scene(urls, http, callers, file_id="", file_size=len(TABLE))
            scene.file_id = await scene.upload(OWNER, "ownership-table.csv", TABLE)
            others = await scene.upload(OTHER, "ownership-bobs.csv", SMALL)  # so the other user's lists are not empty
            await scene.parsed(OWNER, scene.file_id)
            await scene.parsed(OTHER, others)

            seen: dict[tuple[str, str, str], str] = {}
            expected: dict[tuple[str, str, str], str] = {}
            for row in TABLE_OF_ENDPOINTS:
                for credential in ("bearer", "key") if row.by_api_key else ("bearer",):
                    for who, wanted in ((OTHER, row.other), (OWNER, row.owner), (ADMIN, row.admin)):
                        expected[row.endpoint, who, credential] = wanted
                        seen[row.endpoint, who, credential] = await row.probe(scene, who, credential)

    wrong = {case: f"saw {seen[case]}, want {want}" for case, want in expected.items() if seen[case] != want}
    assert not wrong, wrong
