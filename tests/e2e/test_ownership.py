"""Ownership everywhere: every endpoint that names a file serves its owner and an admin, and is a 404 to anyone else.

One table walks the gateway and the notifier (WebSocket per file, ``subscribe``
on ``/ws``, SSE, webhooks), each by bearer token and by ``X-API-Key``, as owner,
another user and an admin, against the services as separate processes. A second
table does the same for a file of a shared organization: a fellow member reads it
(and may not change another member's things), a user of another organization gets
404 everywhere, also when naming the organization. The notifier knows no
memberships of a key (no ``orgs`` claim), so there a fellow's key is a stranger.
``test_every_route_is_in_an_isolation_table`` fails when the gateway or the
notifier grows a route neither table covers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from starlette.routing import Mount
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from ferry_core.events import new_id
from ferry_core.orgs import ORG_HEADER
from ferry_testkit.servers import S3Server
from tests.e2e import platform
from tests.e2e.journey import PASSWORD, poll

WAIT = 15.0
OWNER, OTHER, ADMIN, FELLOW = "owner", "other", "admin", "fellow"
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
    org: str | None = None  # the shared organization the file is in (None: the owner's personal one)
    project_id: str = ""
    batch_id: str = ""
    webhook_id: str = ""  # the owner's webhook (in the organization, once there is one)
    delivery_id: str = ""  # a test delivery of it

    def headers(self, who: str, credential: str, *, in_org: bool = False) -> dict[str, str]:
        headers = self.callers[who].headers(credential)
        return {**headers, ORG_HEADER: self.org} if in_org and self.org else headers

    async def upload(self, who: str, name: str, data: bytes) -> str:
        response = await self.http.post(
            f"{self.urls.files}/files",
            headers=self.headers(who, "bearer", in_org=True),
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


def _listed(path: str, *, in_org: bool = False, key: str = "file_id") -> Probe:
    """Whether the scene's file (or project, or batch) is in the list; ``in_org``: naming the organization."""

    async def probe(scene: Scene, who: str, credential: str) -> str:
        params = {"q": "ownership-"} if path == "/files/search" else {"limit": 1000}
        headers = scene.headers(who, credential, in_org=in_org)
        response = await scene.http.get(f"{scene.urls.files}{path}", params=params, headers=headers)
        if response.status_code != 200:
            return str(response.status_code)
        wanted = {"file_id": scene.file_id, "project_id": scene.project_id, "batch_id": scene.batch_id}[key]
        return "listed" if wanted in {item[key] for item in response.json()["items"]} else "absent"

    return probe


def _stats_of(*, in_org: bool) -> Probe:
    async def probe(scene: Scene, who: str, credential: str) -> str:
        headers = scene.headers(who, credential, in_org=in_org)
        response = await scene.http.get(f"{scene.urls.files}/files/stats", headers=headers)
        if response.status_code != 200:
            return str(response.status_code)
        return "counted" if response.json()["total_bytes"] >= scene.file_size else "absent"

    return probe


_stats = _stats_of(in_org=False)


def _call(method: str, template: str, *, in_org: bool = False, body: object = None) -> Probe:
    """One request to the gateway, and its status; ``{file_id}``, ``{project_id}``, ``{batch_id}``: the scene's."""

    async def probe(scene: Scene, who: str, credential: str) -> str:
        path = template.format(
            file_id=scene.file_id, project_id=scene.project_id, batch_id=scene.batch_id, letter_id="no-such-letter"
        )
        payload = body() if callable(body) else body
        headers = scene.headers(who, credential, in_org=in_org)
        response = await scene.http.request(method, f"{scene.urls.files}{path}", headers=headers, json=payload)
        return str(response.status_code)

    return probe


async def _upload_into_org(scene: Scene, who: str, credential: str) -> str:
    response = await scene.http.post(
        f"{scene.urls.files}/files",
        headers=scene.headers(who, credential, in_org=True),
        files={"file": (f"ownership-{who}.csv", SMALL, "text/csv")},
    )
    return str(response.status_code)


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


def _ws(scene: Scene, who: str, credential: str, path: str) -> connect:
    """A WebSocket to the notifier as ``who``: the token in the query (as browsers send it), or the key's header."""
    caller = scene.callers[who]
    if credential == "key":
        return connect(f"{scene.urls.ws}{path}", additional_headers={"X-API-Key": caller.api_key}, open_timeout=WAIT)
    joiner = "&" if "?" in path else "?"
    return connect(f"{scene.urls.ws}{path}{joiner}token={caller.access}", open_timeout=WAIT)


def _sse_auth(scene: Scene, who: str, credential: str) -> tuple[dict[str, str], dict[str, str]]:
    """Query parameters and headers that sign an SSE request in (a key goes in its header only)."""
    caller = scene.callers[who]
    return ({}, caller.headers("key")) if credential == "key" else ({"token": caller.access}, {})


async def _ws_file(scene: Scene, who: str, credential: str) -> str:
    try:
        async with _ws(scene, who, credential, f"/ws/{scene.file_id}") as ws:
            first = json.loads(await ws.recv(decode=True))
    except InvalidStatus as refused:
        return str(refused.response.status_code)
    assert (first["type"], first["data"]["file_id"]) == ("status_update", scene.file_id), first
    return "200"


async def _ws_refused_or_open(scene: Scene, who: str, credential: str, path: str) -> str:
    try:
        async with _ws(scene, who, credential, path):
            return "200"
    except InvalidStatus as refused:
        return str(refused.response.status_code)


async def _ws_batch(scene: Scene, who: str, credential: str) -> str:
    return await _ws_refused_or_open(scene, who, credential, f"/ws/batches/{scene.batch_id}")


async def _ws_in_org(scene: Scene, who: str, credential: str) -> str:
    return await _ws_refused_or_open(scene, who, credential, f"/ws?org={scene.org}")


async def _sse_in_org(scene: Scene, who: str, credential: str) -> str:
    params, headers = _sse_auth(scene, who, credential)
    url = f"{scene.urls.notifier}/events"
    async with scene.http.stream("GET", url, params={"org": scene.org or "", **params}, headers=headers) as response:
        return str(response.status_code)


async def _ws_subscribe(scene: Scene, who: str, credential: str) -> str:
    """``subscribe`` on ``/ws``: the file's current state, or an error naming it."""
    async with _ws(scene, who, credential, "/ws") as ws:
        await ws.send(json.dumps({"type": "subscribe", "file_id": scene.file_id}))
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            message = json.loads(await ws.recv(decode=True))
            if message.get("type") == "error" and message.get("file_id") == scene.file_id:
                return "404" if message.get("detail") == "file not found" else f"error {message.get('detail')}"
            if message.get("type") == "status_update" and message["data"]["file_id"] == scene.file_id:
                return "200"
    return "no answer"


async def _sse(scene: Scene, who: str, credential: str) -> str:
    params, headers = _sse_auth(scene, who, credential)
    url = f"{scene.urls.notifier}/events"
    async with scene.http.stream("GET", url, params={"file_id": scene.file_id, **params}, headers=headers) as response:
        if response.status_code != 200:
            return str(response.status_code)
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                message = json.loads(line.removeprefix("data:"))
                assert message["data"]["file_id"] == scene.file_id, message
                return "200"
    return "no event"


_STARTED = {200, 202}  # a job started, or the live one returned


def _start_job(path: str, body: object = None) -> Probe:
    """Start an analysis or conversion of the scene's file as ``who``: "started" (202 new, 200 the live one)."""

    async def probe(scene: Scene, who: str, credential: str) -> str:
        url = f"{scene.urls.files}/files/{scene.file_id}{path}"
        response = await scene.http.post(url, headers=scene.callers[who].headers(credential), json=body)
        return "started" if response.status_code in _STARTED else str(response.status_code)

    return probe


async def _owners_conversion(scene: Scene, wait: int = 0) -> str:
    """The owner's live conversion of the scene's file to CSV (started if none is), waiting up to ``wait`` s."""
    response = await scene.http.post(
        f"{scene.urls.files}/files/{scene.file_id}/conversions",
        params={"wait": wait},
        headers=scene.callers[OWNER].headers("bearer"),
        json={"to": "csv"},
    )
    assert response.status_code in _STARTED, response.text
    conversion_id: str = response.json()["conversion_id"]
    return conversion_id


def _on_conversion(method: str, suffix: str = "", *, finished: bool = False) -> Probe:
    """``method`` on the owner's conversion as ``who`` (a finished one for downloads: the parser converts it)."""

    async def probe(scene: Scene, who: str, credential: str) -> str:
        conversion_id = await _owners_conversion(scene, wait=30 if finished else 0)
        url = f"{scene.urls.files}/files/{scene.file_id}/conversions/{conversion_id}{suffix}"
        response = await scene.http.request(method, url, headers=scene.callers[who].headers(credential))
        if response.status_code == 200 and suffix == "/download":
            assert response.content.startswith(b"id,name,score"), response.content[:100]
        return str(response.status_code)

    return probe


async def _cancel_analysis(scene: Scene, who: str, credential: str) -> str:
    """The owner makes sure an analysis is live; ``who`` cancels (or removes) it."""
    url = f"{scene.urls.files}/files/{scene.file_id}/analysis"
    started = await scene.http.post(url, headers=scene.callers[OWNER].headers("bearer"))
    assert started.status_code in _STARTED, started.text
    return str((await scene.http.delete(url, headers=scene.callers[who].headers(credential))).status_code)


async def _presigned_download(scene: Scene, who: str, credential: str) -> str:
    """``?url=true`` as ``who``, then the URL fetched with no credentials at all."""
    url = f"{scene.urls.files}/files/{scene.file_id}/download"
    response = await scene.http.get(url, params={"url": "true"}, headers=scene.callers[who].headers(credential))
    if response.status_code != 200:
        return str(response.status_code)
    async with httpx.AsyncClient(timeout=WAIT) as anonymous:
        fetched = await anonymous.get(response.json()["url"])
    assert fetched.status_code != 200 or fetched.content.startswith(b"id,name,score"), fetched.content[:100]
    return f"url, then {fetched.status_code}"


async def _forged_signed_url(scene: Scene, who: str, credential: str) -> str:
    """The gateway's own signed URLs (a folder blob store) refuse a signature it did not make, whoever asks."""
    params = {"expires": str(int(time.time()) + 60), "filename": "a.csv", "type": "text/csv", "signature": "forged"}
    url = f"{scene.urls.files}/downloads/{scene.file_id}"
    return str((await scene.http.get(url, params=params, headers=scene.callers[who].headers(credential))).status_code)


HOOK_URL = "http://127.0.0.1:9/ownership"  # the discard port: deliveries fail, which is not what is tested here


TUS = {"Tus-Resumable": "1.0.0"}


async def _tus_upload(scene: Scene) -> str:
    """A fresh resumable upload of the owner's (in the scene's organization, once there is one), nothing sent."""
    headers = {**scene.headers(OWNER, "bearer", in_org=True), **TUS, "Upload-Length": str(len(SMALL))}
    response = await scene.http.post(f"{scene.urls.files}/files/tus", headers=headers)
    assert response.status_code == 201, response.text
    return str(response.headers["location"])


async def _tus_create(scene: Scene, who: str, credential: str) -> str:
    """A resumable upload created as ``who`` in the scene's organization (their personal one before there is one)."""
    headers = {**scene.headers(who, credential, in_org=True), **TUS, "Upload-Length": str(len(SMALL))}
    return str((await scene.http.post(f"{scene.urls.files}/files/tus", headers=headers)).status_code)


async def _tus_options(scene: Scene, who: str, credential: str) -> str:
    response = await scene.http.options(f"{scene.urls.files}/files/tus", headers=scene.callers[who].headers(credential))
    return str(response.status_code)


async def _tus_head_and_patch(scene: Scene, who: str, credential: str) -> str:
    """HEAD then PATCH (the whole body, so the upload becomes a file) of the owner's fresh upload, as ``who``."""
    url = f"{scene.urls.files}{await _tus_upload(scene)}"
    headers = {**scene.callers[who].headers(credential), **TUS}
    head = await scene.http.head(url, headers=headers)
    patch_headers = {**headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    patch = await scene.http.patch(url, headers=patch_headers, content=SMALL)
    return f"{head.status_code}, {patch.status_code}"


async def _tus_delete(scene: Scene, who: str, credential: str) -> str:
    url = f"{scene.urls.files}{await _tus_upload(scene)}"
    status = (await scene.http.delete(url, headers={**scene.callers[who].headers(credential), **TUS})).status_code
    after = (await scene.http.head(url, headers={**scene.callers[OWNER].headers("bearer"), **TUS})).status_code
    return f"{status}, then {after}"


async def _make_webhook(scene: Scene, *, in_org: bool = False) -> tuple[str, str]:
    """A webhook of the owner's (in the scene's organization with ``in_org``) and a test delivery of it."""
    headers = scene.headers(OWNER, "bearer", in_org=in_org)
    created = await scene.http.post(
        f"{scene.urls.notifier}/webhooks", headers=headers, json={"url": HOOK_URL, "events": ["*"]}
    )
    assert created.status_code == 201, created.text
    webhook_id: str = created.json()["webhook_id"]
    tested = await scene.http.post(f"{scene.urls.notifier}/webhooks/{webhook_id}/test", headers=headers)
    assert tested.status_code == 202, tested.text
    delivery_id: str = tested.json()["delivery_id"]
    return webhook_id, delivery_id


def _hook(method: str, suffix: str = "", *, body: object = None) -> Probe:
    """A request to the scene's webhook (``{delivery_id}``: its test delivery) as ``who``, and its status."""

    async def probe(scene: Scene, who: str, credential: str) -> str:
        path = suffix.format(delivery_id=scene.delivery_id)
        url = f"{scene.urls.notifier}/webhooks/{scene.webhook_id}{path}"
        response = await scene.http.request(method, url, headers=scene.callers[who].headers(credential), json=body)
        if response.status_code < 300 and method == "GET" and not suffix:
            assert "secret" not in response.json(), response.text
        return str(response.status_code)

    return probe


async def _delete_webhook(scene: Scene, who: str, credential: str) -> str:
    """As ``_delete``: each caller aims at a fresh webhook of the owner's (in the organization, if there is one)."""
    doomed, _ = await _make_webhook(scene, in_org=scene.org is not None)
    url = f"{scene.urls.notifier}/webhooks/{doomed}"
    status = (await scene.http.delete(url, headers=scene.callers[who].headers(credential))).status_code
    after = (await scene.http.get(url, headers=scene.callers[OWNER].headers("bearer"))).status_code
    return f"{status}, then {after}"


def _hooks_listed(*, in_org: bool = False) -> Probe:
    async def probe(scene: Scene, who: str, credential: str) -> str:
        headers = scene.headers(who, credential, in_org=in_org)
        response = await scene.http.get(f"{scene.urls.notifier}/webhooks", headers=headers, params={"limit": 100})
        if response.status_code != 200:
            return str(response.status_code)
        return "listed" if scene.webhook_id in {item["webhook_id"] for item in response.json()["items"]} else "absent"

    return probe


def _register_hook(*, in_org: bool = False) -> Probe:
    async def probe(scene: Scene, who: str, credential: str) -> str:
        headers = scene.headers(who, credential, in_org=in_org)
        body = {"url": HOOK_URL, "events": ["file.parsed"]}
        return str((await scene.http.post(f"{scene.urls.notifier}/webhooks", headers=headers, json=body)).status_code)

    return probe


@dataclass(frozen=True)
class Row:
    endpoint: str  # the route, as the app declares it ("METHOD /path/{param}", "WS /path"), and what is asked
    probe: Probe
    owner: str
    other: str
    admin: str

    @property
    def route(self) -> str:
        return " ".join(self.endpoint.split(" ")[:2]).split("?")[0]


TABLE_OF_ENDPOINTS = [
    Row("GET /files/{file_id}", _get(""), "200", "404", "200"),
    Row("GET /files/{file_id}/content", _get("/content"), "200", "404", "200"),
    Row("GET /files/{file_id}/progress", _get("/progress"), "200", "404", "200"),
    Row("GET /files/{file_id}/download", _download, "200", "404", "200"),
    Row("GET /files/{file_id}/download ?url=true", _presigned_download, "url, then 200", "404", "url, then 200"),
    Row("GET /downloads/{key}", _forged_signed_url, "403", "403", "403"),
    Row("GET /files/{file_id}/export", _get("/export"), "200", "404", "200"),
    Row("POST /files/{file_id}/cancel", _cancel, "409", "404", "409"),  # parsed: too late, but the caller may ask
    Row("DELETE /files/{file_id}", _delete, "204, then 404", "404, then 200", "204, then 404"),
    Row("POST /files/{file_id}/analysis", _start_job("/analysis"), "started", "404", "started"),
    Row("GET /files/{file_id}/analysis", _get("/analysis"), "200", "404", "200"),
    Row("DELETE /files/{file_id}/analysis", _cancel_analysis, "204", "404", "204"),
    Row("POST /files/{file_id}/conversions", _start_job("/conversions", {"to": "csv"}), "started", "404", "started"),
    Row("GET /files/{file_id}/conversions", _get("/conversions"), "200", "404", "200"),
    Row("GET /files/{file_id}/conversions/{conversion_id}", _on_conversion("GET"), "200", "404", "200"),
    Row("DELETE /files/{file_id}/conversions/{conversion_id}", _on_conversion("DELETE"), "204", "404", "204"),
    Row(
        "GET /files/{file_id}/conversions/{conversion_id}/download",
        _on_conversion("GET", "/download", finished=True),
        "200",
        "404",
        "200",
    ),
    # Resumable uploads are their creator's alone, whoever else asks (the platform admin too).
    Row("OPTIONS /files/tus", _tus_options, "204", "204", "204"),
    Row("POST /files/tus", _tus_create, "201", "201", "201"),  # each into their own organization
    Row("PATCH /files/tus/{upload_id} (after HEAD)", _tus_head_and_patch, "200, 204", "404, 404", "404, 404"),
    Row("DELETE /files/tus/{upload_id}", _tus_delete, "204, then 404", "404, then 200", "404, then 200"),
    Row("GET /files", _listed("/files"), "listed", "absent", "listed"),
    Row("GET /files/search", _listed("/files/search"), "listed", "absent", "listed"),
    Row("GET /files/stats", _stats, "counted", "absent", "counted"),
    Row("WS /ws/{file_id}", _ws_file, "200", "404", "200"),
    Row("WS /ws subscribe", _ws_subscribe, "200", "404", "200"),
    Row("GET /events ?file_id=", _sse, "200", "404", "200"),
    # Webhooks (the notifier): the owner's, in their personal organization.
    Row("POST /webhooks", _register_hook(), "201", "201", "201"),  # each in their own
    Row("GET /webhooks", _hooks_listed(), "listed", "absent", "absent"),  # the active org's
    Row("GET /webhooks/{webhook_id}", _hook("GET"), "200", "404", "200"),
    Row("PATCH /webhooks/{webhook_id}", _hook("PATCH", body={"description": "x"}), "200", "404", "200"),
    Row(
        "DELETE /webhooks/{webhook_id}",
        _delete_webhook,
        "204, then 404",
        "404, then 200",
        "204, then 404",
    ),
    Row(
        "POST /webhooks/{webhook_id}/rotate-secret",
        _hook("POST", "/rotate-secret"),
        "200",
        "404",
        "200",
    ),
    Row("POST /webhooks/{webhook_id}/test", _hook("POST", "/test"), "202", "404", "202"),
    Row("GET /webhooks/{webhook_id}/deliveries", _hook("GET", "/deliveries"), "200", "404", "200"),
    Row(
        "GET /webhooks/{webhook_id}/deliveries/{delivery_id}",
        _hook("GET", "/deliveries/{delivery_id}"),
        "200",
        "404",
        "200",
    ),
    Row(
        "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
        _hook("POST", "/deliveries/{delivery_id}/resend"),
        "202",
        "404",
        "202",
    ),
]


@dataclass(frozen=True)
class OrgRow:
    """A route asked about the shared organization's file (project, batch) by a fellow member and an outsider."""

    endpoint: str
    probe: Probe
    fellow: str
    outsider: str
    fellow_by_key: str | None = None
    """The fellow's answer by API key where it differs: the notifier knows no memberships of a key."""

    def wanted(self, who: str, credential: str) -> str:
        if who == OTHER:
            return self.outsider
        return self.fellow_by_key if credential == "key" and self.fellow_by_key is not None else self.fellow

    @property
    def route(self) -> str:
        return " ".join(self.endpoint.split(" ")[:2]).split("?")[0]


_NO_PROJECT = {"project_id": None}
ORG_TABLE = [
    # By id: any member of the file's organization, whatever organization the request names; nobody else.
    OrgRow("GET /files/{file_id}", _get(""), "200", "404"),
    OrgRow("GET /files/{file_id}/content", _get("/content"), "200", "404"),
    OrgRow("GET /files/{file_id}/progress", _get("/progress"), "200", "404"),
    OrgRow("GET /files/{file_id}/download", _download, "200", "404"),
    OrgRow("GET /files/{file_id}/export", _get("/export"), "200", "404"),
    # Changing another member's file takes an admin: a fellow member is refused, an outsider does not see it.
    OrgRow("POST /files/{file_id}/cancel", _cancel, "403", "404"),
    OrgRow("DELETE /files/{file_id}", _delete, "403, then 200", "404, then 200"),
    OrgRow("PATCH /files/{file_id}", _call("PATCH", "/files/{file_id}", body=_NO_PROJECT), "403", "404"),
    # Jobs leave the file as it is: any member may start and stop them (viewers may not), outsiders see nothing.
    OrgRow("POST /files/{file_id}/analysis", _start_job("/analysis"), "started", "404"),
    OrgRow("GET /files/{file_id}/analysis", _get("/analysis"), "200", "404"),
    OrgRow("DELETE /files/{file_id}/analysis", _cancel_analysis, "204", "404"),
    OrgRow("POST /files/{file_id}/conversions", _start_job("/conversions", {"to": "json"}), "started", "404"),
    OrgRow("GET /files/{file_id}/conversions", _get("/conversions"), "200", "404"),
    OrgRow("GET /files/{file_id}/conversions/{conversion_id}", _on_conversion("GET"), "200", "404"),
    OrgRow("DELETE /files/{file_id}/conversions/{conversion_id}", _on_conversion("DELETE"), "204", "404"),
    OrgRow(
        "GET /files/{file_id}/conversions/{conversion_id}/download",
        _on_conversion("GET", "/download", finished=True),
        "200",
        "404",
    ),
    OrgRow("GET /files/{file_id}/download ?url=true", _presigned_download, "url, then 200", "404"),
    # Lists and statistics: the organization's, for its members; naming it as an outsider is a 404.
    OrgRow("POST /files (in the org)", _upload_into_org, "201", "404"),
    OrgRow("POST /files/tus (in the org)", _tus_create, "201", "404"),
    OrgRow("PATCH /files/tus/{upload_id} (after HEAD)", _tus_head_and_patch, "404, 404", "404, 404"),
    OrgRow("DELETE /files/tus/{upload_id}", _tus_delete, "404, then 200", "404, then 200"),
    OrgRow("GET /files (in the org)", _listed("/files", in_org=True), "listed", "404"),
    OrgRow("GET /files (personal)", _listed("/files"), "absent", "absent"),
    OrgRow("GET /files/search (in the org)", _listed("/files/search", in_org=True), "listed", "404"),
    OrgRow("GET /files/search (personal)", _listed("/files/search"), "absent", "absent"),
    OrgRow("GET /files/stats (in the org)", _stats_of(in_org=True), "counted", "404"),
    OrgRow("GET /files/stats (personal)", _stats, "absent", "absent"),
    # Projects and batches of the organization (the owner made them, so a member may read but not change them).
    OrgRow("GET /projects/{project_id}", _call("GET", "/projects/{project_id}"), "200", "404"),
    OrgRow("PATCH /projects/{project_id}", _call("PATCH", "/projects/{project_id}", body={"name": "x"}), "403", "404"),
    OrgRow("DELETE /projects/{project_id}", _call("DELETE", "/projects/{project_id}"), "403", "404"),
    OrgRow("GET /projects (in the org)", _listed("/projects", in_org=True, key="project_id"), "listed", "404"),
    OrgRow("GET /projects (personal)", _listed("/projects", key="project_id"), "absent", "absent"),
    OrgRow(
        "POST /projects (in the org)",
        _call("POST", "/projects", in_org=True, body=lambda: {"name": f"ownership-{new_id()[:8]}"}),
        "201",
        "404",
    ),
    OrgRow("GET /batches/{batch_id}", _call("GET", "/batches/{batch_id}"), "200", "404"),
    OrgRow("GET /batches (in the org)", _listed("/batches", in_org=True, key="batch_id"), "listed", "404"),
    OrgRow("GET /batches (personal)", _listed("/batches", key="batch_id"), "absent", "absent"),
    OrgRow("POST /batches (in the org)", _call("POST", "/batches", in_org=True, body={"name": "b"}), "201", "404"),
    # Analytics answer for the active organization only: its admins see it whole; an outsider naming it gets 404.
    OrgRow("GET /analytics/me (in the org)", _call("GET", "/analytics/me", in_org=True), "200", "404"),
    OrgRow("GET /analytics/org (in the org)", _call("GET", "/analytics/org", in_org=True), "403", "404"),
    OrgRow("GET /analytics/platform", _call("GET", "/analytics/platform"), "403", "403"),
    # Operations: the platform admin's alone.
    OrgRow("GET /admin/dead-letters", _call("GET", "/admin/dead-letters"), "403", "403"),
    OrgRow("GET /admin/dead-letters/{letter_id}", _call("GET", "/admin/dead-letters/{letter_id}"), "403", "403"),
    OrgRow("POST /admin/dead-letters/replay", _call("POST", "/admin/dead-letters/replay"), "403", "403"),
    OrgRow(
        "POST /admin/dead-letters/{letter_id}/replay",
        _call("POST", "/admin/dead-letters/{letter_id}/replay"),
        "403",
        "403",
    ),
    OrgRow("DELETE /admin/dead-letters/{letter_id}", _call("DELETE", "/admin/dead-letters/{letter_id}"), "403", "403"),
    # The notifier: by file id as the files API; the organization's stream for its members only. A fellow's
    # key is a stranger there (a key carries no memberships, and the notifier keeps no projection of them).
    OrgRow("WS /ws/{file_id}", _ws_file, "200", "404", fellow_by_key="404"),
    OrgRow("WS /ws subscribe", _ws_subscribe, "200", "404", fellow_by_key="404"),
    OrgRow("WS /ws ?org=", _ws_in_org, "200", "404", fellow_by_key="404"),
    OrgRow("WS /ws/batches/{batch_id}", _ws_batch, "200", "404", fellow_by_key="404"),
    OrgRow("GET /events ?file_id=", _sse, "200", "404", fellow_by_key="404"),
    OrgRow("GET /events ?org=", _sse_in_org, "200", "404", fellow_by_key="404"),
    # Webhooks of the organization: its admins and owners manage them; a member registers none and sees only
    # their own (none here); an outsider naming the organization gets 404, and the owner's webhook is 404 to both.
    OrgRow("POST /webhooks (in the org)", _register_hook(in_org=True), "403", "404", fellow_by_key="404"),
    OrgRow("GET /webhooks (in the org)", _hooks_listed(in_org=True), "absent", "404", fellow_by_key="404"),
    OrgRow("GET /webhooks/{webhook_id}", _hook("GET"), "404", "404"),
    OrgRow("PATCH /webhooks/{webhook_id}", _hook("PATCH", body={"enabled": False}), "404", "404"),
    OrgRow("DELETE /webhooks/{webhook_id}", _delete_webhook, "404, then 200", "404, then 200"),
    OrgRow("POST /webhooks/{webhook_id}/rotate-secret", _hook("POST", "/rotate-secret"), "404", "404"),
    OrgRow("POST /webhooks/{webhook_id}/test", _hook("POST", "/test"), "404", "404"),
    OrgRow("GET /webhooks/{webhook_id}/deliveries", _hook("GET", "/deliveries"), "404", "404"),
    OrgRow(
        "GET /webhooks/{webhook_id}/deliveries/{delivery_id}", _hook("GET", "/deliveries/{delivery_id}"), "404", "404"
    ),
    OrgRow(
        "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/resend",
        _hook("POST", "/deliveries/{delivery_id}/resend"),
        "404",
        "404",
    ),
]

# Routes that serve no one's data, so no isolation table lists them.
PUBLIC_ROUTES = {
    "GET /health",  # liveness
    "GET /ready",  # readiness of the broker, database and blob store
    "GET /metrics",  # Prometheus
    "GET /openapi.json",  # the API's description
    "GET /docs",
    "GET /docs/oauth2-redirect",
    "GET /redoc",
    "GET /",  # the console's page (static; it signs in and calls the API like any client)
    "MOUNT /console",  # the console's static files
}


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
    # Private webhook URLs allowed: the webhooks registered here point at this machine's discard port.
    extra = {"FERRY_WEBHOOK_ALLOW_PRIVATE": "true"}
    with platform.distributed(amqp_url, mongo_url, *s3, bucket, db, tmp_path, extra_env=extra) as (urls, _):
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
            scene.webhook_id, scene.delivery_id = await _make_webhook(scene)

            seen: dict[tuple[str, str, str], str] = {}
            expected: dict[tuple[str, str, str], str] = {}
            for row in TABLE_OF_ENDPOINTS:
                for credential in ("bearer", "key"):
                    for who, wanted in ((OTHER, row.other), (OWNER, row.owner), (ADMIN, row.admin)):
                        expected[row.endpoint, who, credential] = wanted
                        seen[row.endpoint, who, credential] = await row.probe(scene, who, credential)

            await _org_scene(scene, callers)
            for org_row in ORG_TABLE:
                for credential in ("bearer", "key"):
                    for who in (OTHER, FELLOW):
                        expected[f"org: {org_row.endpoint}", who, credential] = org_row.wanted(who, credential)
                        seen[f"org: {org_row.endpoint}", who, credential] = await org_row.probe(scene, who, credential)

    wrong = {case: f"saw {seen[case]}, want {want}" for case, want in expected.items() if seen[case] != want}
    assert not wrong, wrong


async def _org_scene(scene: Scene, callers: dict[str, Caller]) -> None:
    """The owner makes an organization and invites a fellow member; the owner's file, project and batch there."""
    http, urls = scene.http, scene.urls
    owner = {"Authorization": f"Bearer {callers[OWNER].access}"}
    created = await http.post(f"{urls.auth}/orgs", headers=owner, json={"name": f"Ownership {new_id()[:6]}"})
    assert created.status_code == 201, created.text
    org_id: str = created.json()["org_id"]
    invitation = await http.post(f"{urls.auth}/orgs/{org_id}/invitations", headers=owner, json={"role": "member"})
    assert invitation.status_code == 201, invitation.text
    username = f"fellow{new_id()[:8]}"
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    assert (await http.post(f"{urls.auth}/auth/register", json=body)).status_code == 201
    fellow = await _sign_in(http, urls, username, PASSWORD)
    accepted = await http.post(
        f"{urls.auth}/invitations/accept",
        headers={"Authorization": f"Bearer {fellow.access}"},
        json={"token": invitation.json()["token"]},
    )
    assert accepted.status_code == 200, accepted.text
    # Fresh access tokens carry the memberships (the notifier trusts the claim).
    for who, name in ((OWNER, None), (FELLOW, username)):
        caller = fellow if who == FELLOW else callers[OWNER]
        login_name = name or await _username(http, urls, caller)
        login = await http.post(f"{urls.auth}/auth/login", json={"username": login_name, "password": PASSWORD})
        assert login.status_code == 200, login.text
        callers[who] = Caller(access=login.json()["access_token"], api_key=caller.api_key)

    async def member_projected() -> bool:  # the gateway's projection lets the fellow's API key in
        headers = {**callers[FELLOW].headers("key"), ORG_HEADER: org_id}
        return (await http.get(f"{urls.files}/files", headers=headers)).status_code == 200

    await poll(member_projected)
    scene.org = org_id
    in_org = scene.headers(OWNER, "bearer", in_org=True)
    project = await http.post(f"{urls.files}/projects", headers=in_org, json={"name": "ownership-project"})
    batch = await http.post(f"{urls.files}/batches", headers=in_org, json={"name": "ownership-batch"})
    assert project.status_code == batch.status_code == 201, (project.text, batch.text)
    scene.project_id, scene.batch_id = project.json()["project_id"], batch.json()["batch_id"]
    response = await http.post(
        f"{urls.files}/files",
        headers=in_org,
        files={"file": ("ownership-org-table.csv", TABLE, "text/csv")},
        data={"project_id": scene.project_id, "batch_id": scene.batch_id},
    )
    assert response.status_code == 201, response.text
    scene.file_id = response.json()["file_id"]
    await scene.parsed(OWNER, scene.file_id)
    scene.webhook_id, scene.delivery_id = await _make_webhook(scene, in_org=True)


async def _username(http: httpx.AsyncClient, urls: platform.Urls, caller: Caller) -> str:
    me = await http.get(f"{urls.auth}/users/me", headers={"Authorization": f"Bearer {caller.access}"})
    assert me.status_code == 200, me.text
    name: str = me.json()["username"]
    return name


def _routes(app: FastAPI) -> set[str]:
    """Every route of an app as "METHOD /path" ("WS /path" for sockets, "MOUNT /path" for mounted apps)."""
    found: set[str] = set()

    def walk(routes: list[object], prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI's wrapper of an included router
            if included is not None:
                walk(included.routes, prefix + route.include_context.prefix)  # type: ignore[attr-defined]
            elif isinstance(route, Mount):
                found.add(f"MOUNT {prefix}{route.path}")
            else:
                path = prefix + route.path  # type: ignore[attr-defined]
                methods = getattr(route, "methods", None)
                found.update({f"{m} {path}" for m in methods - {"HEAD"}} if methods else {f"WS {path}"})

    walk(list(app.routes), "")
    return found


def test_every_route_is_in_an_isolation_table() -> None:
    """A new route of the gateway or the notifier must join a table above (or, serving no data, PUBLIC_ROUTES)."""
    from ferry_ingest.app import create_app as gateway_app
    from ferry_ingest.settings import IngestSettings
    from ferry_notifier.app import create_app as notifier_app
    from ferry_notifier.settings import NotifierSettings

    routes = _routes(gateway_app(IngestSettings())) | _routes(notifier_app(NotifierSettings()))
    covered = {row.route for row in TABLE_OF_ENDPOINTS} | {row.route for row in ORG_TABLE} | PUBLIC_ROUTES
    assert not routes - covered, f"routes in no isolation table: {sorted(routes - covered)}"
    assert not covered - routes, f"table rows naming no route: {sorted(covered - routes)}"
