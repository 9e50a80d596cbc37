"""Organization scope on every kind of route, for each role: owner, admin, member, viewer, outsider, platform admin.

The gateway in-process over the real MongoDB-wire server and the memory bus. Roles
come from the token's ``orgs`` claim, except the viewer's, which only the gateway's
projection knows (as after a change the token has not caught up with).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

import pytest

from ferry_core.events import AuditRecorded, Envelope, OrgMemberUpdated
from ferry_core.orgs import OrgRole
from ferry_testkit.tokens import TokenFactory

from .test_routes import CSV, eventually

ORG = "acme"
Headers = dict[str, str]


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


class Cast:
    """Request headers of each role in ``acme``; ``personal`` leaves the organization out."""

    def __init__(self, tokens: TokenFactory) -> None:
        def bearer(user: str, role: str = "user", **claims: object) -> Headers:
            return {"Authorization": f"Bearer {tokens.issue(user, role=role, **claims)}"}

        self.personal = {
            "owner": bearer("olga", orgs={ORG: "owner"}),
            "admin": bearer("adam", orgs={ORG: "admin"}),
            "member": bearer("mia", orgs={ORG: "member"}),
            "member2": bearer("max", orgs={ORG: "member"}),
            "viewer": bearer("vic"),  # a viewer through the projection only
            "outsider": bearer("otto", orgs={"elsewhere": "owner"}),
            "root": bearer("root", role="admin"),
        }

    def __getitem__(self, who: str) -> Headers:
        return {**self.personal[who], "X-Ferry-Org": ORG}


@pytest.fixture
async def cast(gateway: Gateway, tokens: TokenFactory) -> Cast:
    await gateway.infra.bus.publish(
        Envelope.wrap(OrgMemberUpdated(org_id=ORG, user_id="vic", role=OrgRole.VIEWER, revision=1), source="ferry-auth")
    )
    people = Cast(tokens)

    async def projected() -> bool:
        return (await gateway.client.get("/files", headers=people["viewer"])).status_code == 200

    await until(projected)
    return people


async def put(gw: Gateway, headers: Headers, name: str = "a.csv", **fields: str) -> tuple[int, dict[str, object]]:
    response = await gw.client.post("/files", headers=headers, files={"file": (name, CSV, "text/csv")}, data=fields)
    return response.status_code, response.json()


async def test_uploads_land_in_the_active_organization(gateway: Gateway, cast: Cast) -> None:
    seen = {who: (await put(gateway, cast[who], f"{who}.csv"))[0] for who in ("owner", "admin", "member", "viewer")}
    assert seen == {"owner": 201, "admin": 201, "member": 201, "viewer": 403}
    status, body = await put(gateway, cast["viewer"])
    assert body == {"detail": "viewers cannot upload"}
    status, body = await put(gateway, cast["outsider"])
    assert (status, body) == (404, {"detail": "organization not found"})
    by_query = await gateway.client.post(
        "/files", params={"org": ORG}, headers=cast.personal["member"], files={"file": ("q.csv", CSV, "text/csv")}
    )
    assert by_query.status_code == 201 and by_query.json()["org_id"] == ORG
    _, personal = await put(gateway, cast.personal["member"], "mine.csv")
    assert personal["org_id"] == "mia"

    await eventually(lambda: len([e for e in gateway.published if e.type == "file.uploaded.v1"]) == 5)
    uploaded = [e for e in gateway.published if e.type == "file.uploaded.v1"]
    assert {e.data["file_id"]: e.org_id for e in uploaded}[personal["file_id"]] == "mia"
    assert sorted(e.org_id or "" for e in uploaded) == [ORG, ORG, ORG, ORG, "mia"]
    audits = [AuditRecorded.model_validate(e.data) for e in gateway.published if e.type == "audit.recorded.v1"]
    assert sorted(a.org_id or "" for a in audits if a.action == "file.uploaded") == [ORG, ORG, ORG, ORG, "mia"]


async def test_lists_search_and_stats_cover_the_active_organization(gateway: Gateway, cast: Cast) -> None:
    _, shared = await put(gateway, cast["member"], "shared-report.csv")
    _, private = await put(gateway, cast.personal["member"], "private-report.csv")
    _, foreign = await put(gateway, cast.personal["outsider"], "foreign-report.csv")
    ids = {shared["file_id"]: "shared", private["file_id"]: "private", foreign["file_id"]: "foreign"}

    async def listed(headers: Headers, path: str = "/files", **params: str) -> list[str]:
        response = await gateway.client.get(path, headers=headers, params=params)
        assert response.status_code == 200, response.text
        return sorted(ids[item["file_id"]] for item in response.json()["items"] if item["file_id"] in ids)

    for who in ("owner", "admin", "member", "viewer", "root"):
        assert await listed(cast[who]) == ["shared"], who
        assert await listed(cast[who], "/files/search", q="report") == ["shared"], who
        stats = (await gateway.client.get("/files/stats", headers=cast[who])).json()
        assert stats["total_files"] == 1, who
    assert await listed(cast.personal["member"]) == ["private"]
    assert await listed(cast.personal["root"]) == ["foreign", "private", "shared"]  # naming none: everything
    for path in ("/files", "/files/search?q=r", "/files/stats", "/projects", "/batches"):
        refused = await gateway.client.get(path, headers=cast["outsider"])
        assert (refused.status_code, refused.json()) == (404, {"detail": "organization not found"}), path


async def test_a_file_by_id_serves_every_member_of_its_organization(gateway: Gateway, cast: Cast) -> None:
    _, shared = await put(gateway, cast["member"])
    file_id = shared["file_id"]
    for who in ("owner", "admin", "member", "member2", "viewer", "root"):
        for suffix in ("", "/progress", "/download"):
            # Whatever organization the request is active in: links keep working.
            response = await gateway.client.get(f"/files/{file_id}{suffix}", headers=cast.personal[who])
            assert response.status_code == 200, (who, suffix, response.text)
    for suffix in ("", "/progress", "/download", "/content", "/export"):
        response = await gateway.client.get(f"/files/{file_id}{suffix}", headers=cast["outsider"])
        assert (response.status_code, response.json()) == (404, {"detail": "file not found"}), suffix
    assert (await gateway.client.delete(f"/files/{file_id}", headers=cast["outsider"])).status_code == 404
    assert (await gateway.client.post(f"/files/{file_id}/cancel", headers=cast["outsider"])).status_code == 404


async def test_deleting_and_cancelling_take_the_owner_of_the_file_or_an_admin(gateway: Gateway, cast: Cast) -> None:
    async def members_file() -> str:
        return str((await put(gateway, cast["member"]))[1]["file_id"])

    outcomes: dict[tuple[str, str], int] = {}
    for who in ("viewer", "member2", "member", "admin", "owner", "root"):
        doomed = await members_file()
        outcomes["delete", who] = (await gateway.client.delete(f"/files/{doomed}", headers=cast[who])).status_code
        queued = await members_file()
        outcomes["cancel", who] = (await gateway.client.post(f"/files/{queued}/cancel", headers=cast[who])).status_code
    assert outcomes == {
        ("delete", "viewer"): 403,
        ("delete", "member2"): 403,
        ("delete", "member"): 204,
        ("delete", "admin"): 204,
        ("delete", "owner"): 204,
        ("delete", "root"): 204,
        ("cancel", "viewer"): 403,
        ("cancel", "member2"): 403,
        ("cancel", "member"): 200,
        ("cancel", "admin"): 200,
        ("cancel", "owner"): 200,
        ("cancel", "root"): 200,
    }
    refused = await gateway.client.delete(f"/files/{await members_file()}", headers=cast["viewer"])
    assert refused.json() == {"detail": "viewers cannot delete files"}
    await eventually(lambda: any(e.type == "file.deleted.v1" for e in gateway.published))
    assert {e.org_id for e in gateway.published if e.type in ("file.deleted.v1", "file.cancelled.v1")} == {ORG}


async def test_projects_and_batches_belong_to_the_organization(gateway: Gateway, cast: Cast) -> None:
    c = gateway.client
    created = {who: await c.post("/projects", headers=cast[who], json={"name": f"P-{who}"}) for who in cast.personal}
    assert {who: r.status_code for who, r in created.items()} == {
        "owner": 201,
        "admin": 201,
        "member": 201,
        "member2": 201,
        "viewer": 403,
        "outsider": 404,
        "root": 201,
    }
    mine, admins = created["member"].json(), created["admin"].json()
    assert mine["org_id"] == ORG and mine["owner_id"] == "mia"
    taken = await c.post("/projects", headers=cast["member2"], json={"name": "p-MEMBER"})
    assert taken.status_code == 409  # names are unique in the organization
    listed = (await c.get("/projects", headers=cast["viewer"])).json()
    assert listed["total"] == 5
    assert (await c.get(f"/projects/{mine['project_id']}", headers=cast.personal["viewer"])).status_code == 200
    assert (await c.get(f"/projects/{mine['project_id']}", headers=cast["outsider"])).status_code == 404

    def rename(project: dict[str, object], who: str, name: str) -> object:
        return c.patch(f"/projects/{project['project_id']}", headers=cast[who], json={"name": name})

    assert (await rename(admins, "member", "mine now")).status_code == 403  # another member created it
    assert (await rename(mine, "viewer", "x")).status_code == 403
    assert (await rename(mine, "member", "renamed")).status_code == 200
    assert (await rename(mine, "admin", "by admin")).status_code == 200
    assert (await rename(mine, "outsider", "x")).status_code == 404
    archive = await c.patch(f"/projects/{admins['project_id']}", headers=cast["member2"], json={"archived": True})
    assert archive.status_code == 403

    # Uploads go only into a project or batch of the upload's organization.
    status, body = await put(gateway, cast["member2"], project_id=str(mine["project_id"]))
    assert status == 201 and body["project_id"] == mine["project_id"]
    assert (await put(gateway, cast.personal["member2"], project_id=str(mine["project_id"])))[0] == 404
    assert (await put(gateway, cast["outsider"], project_id=str(mine["project_id"])))[0] == 404

    batches = {who: await c.post("/batches", headers=cast[who], json={"name": who}) for who in ("member", "viewer")}
    assert batches["viewer"].status_code == 403 and batches["member"].status_code == 201
    batch_id = batches["member"].json()["batch_id"]
    assert batches["member"].json()["org_id"] == ORG
    assert (await put(gateway, cast["owner"], batch_id=batch_id))[0] == 201
    assert (await put(gateway, cast.personal["member"], batch_id=batch_id))[0] == 404
    assert (await c.get(f"/batches/{batch_id}", headers=cast.personal["viewer"])).json()["files"] == 1
    assert (await c.get(f"/batches/{batch_id}", headers=cast["outsider"])).status_code == 404
    assert (await c.get("/batches", headers=cast["viewer"])).json()["total"] == 1

    # Deleting a project with its files: a member only when every file is theirs.
    with_files = {"with_files": "true"}
    refused = await c.delete(f"/projects/{mine['project_id']}", headers=cast["member"], params=with_files)
    assert refused.status_code == 403  # member2 uploaded into it
    assert (
        await c.delete(f"/projects/{mine['project_id']}", headers=cast["admin"], params=with_files)
    ).status_code == 204


async def test_a_removed_member_loses_access_at_once(gateway: Gateway, cast: Cast) -> None:
    _, shared = await put(gateway, cast["member"])
    file_url = f"/files/{shared['file_id']}"
    assert (await gateway.client.get(file_url, headers=cast["member2"])).status_code == 200
    await gateway.infra.bus.publish(
        Envelope.wrap(OrgMemberUpdated(org_id=ORG, user_id="max", role=None, revision=5), source="ferry-auth")
    )

    async def gone() -> bool:
        return (await gateway.client.get(file_url, headers=cast["member2"])).status_code == 404

    await until(gone)  # the token still says member; the projection wins
    assert (await gateway.client.get("/files", headers=cast["member2"])).status_code == 404
