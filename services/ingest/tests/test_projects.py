"""Projects over the real MongoDB-wire server and a real blob folder: CRUD, scope, uploads into them, moves, deletes."""

from __future__ import annotations

from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

import httpx

from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

CSV = b"a,b\n1,x\n2,y\n"


def auth(tokens: TokenFactory, user: str, role: str = "user") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, role=role)}"}


async def create(gw: Gateway, headers: dict[str, str], name: str, **extra: object) -> dict[str, object]:
    response = await gw.client.post("/projects", headers=headers, json={"name": name, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def upload(
    gw: Gateway, headers: dict[str, str], project_id: str | None = None, name: str = "a.csv", data: bytes = CSV
) -> httpx.Response:
    """An upload with ``project_id`` as a form field before the file part (httpx sends fields first)."""
    fields = {"project_id": project_id} if project_id is not None else None
    response: httpx.Response = await gw.client.post(
        "/files", headers=headers, data=fields, files={"file": (name, data, "text/csv")}
    )
    return response


async def upload_field_last(gw: Gateway, headers: dict[str, str], project_id: str, data: bytes = CSV) -> httpx.Response:
    """An upload whose ``project_id`` field comes after the file part, so it is known only once the bytes are in."""
    boundary = "ferryboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="late.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    body += data + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="project_id"\r\n\r\n'.encode()
    body += project_id.encode() + f"\r\n--{boundary}--\r\n".encode()
    response: httpx.Response = await gw.client.post(
        "/files",
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body,
    )
    return response


async def nothing_stored(gw: Gateway) -> bool:
    records = await gw.infra.db["files"].count_documents({})
    blobs = [p for p in gw.infra.blobs._root.rglob("*") if p.is_file()]
    return records == 0 and not blobs


async def test_create_get_rename_and_unique_names(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = auth(tokens, "alice")
    project = await create(gateway, alice, "  Q3 Reports ", description="quarterly")
    assert project["name"] == "Q3 Reports" and project["description"] == "quarterly"
    assert project["owner_id"] == "alice" and project["org_id"] == "alice"  # her personal organization
    assert project["archived"] is False and project["files"] == 0 and project["bytes"] == 0
    pid = project["project_id"]

    taken = await gateway.client.post("/projects", headers=alice, json={"name": "q3 reports"})
    assert taken.status_code == 409 and "already" in taken.json()["detail"]
    await create(gateway, auth(tokens, "bob"), "Q3 Reports")  # names are unique per organization only
    for bad in ({"name": ""}, {"name": "   "}, {"name": "a\x00b"}, {"name": "x" * 101}, {}):
        assert (await gateway.client.post("/projects", headers=alice, json=bad)).status_code == 422, bad

    other = await create(gateway, alice, "Other")
    clash = await gateway.client.patch(f"/projects/{other['project_id']}", headers=alice, json={"name": "Q3 REPORTS"})
    assert clash.status_code == 409
    renamed = await gateway.client.patch(f"/projects/{pid}", headers=alice, json={"name": "q3 reports"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "q3 reports"  # its own name, recased
    cleared = await gateway.client.patch(f"/projects/{pid}", headers=alice, json={"description": None})
    assert cleared.json()["description"] is None and cleared.json()["name"] == "q3 reports"

    got = await gateway.client.get(f"/projects/{pid}", headers=alice)
    assert got.status_code == 200 and got.json()["name"] == "q3 reports"
    assert (await gateway.client.get("/projects/nope", headers=alice)).status_code == 404
    assert (await gateway.client.get("/projects")).status_code == 401


async def test_another_users_project_is_not_found_and_an_admin_reads_all(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    alice, bob, admin = auth(tokens, "alice"), auth(tokens, "bob"), auth(tokens, "root", role="admin")
    pid = (await create(gateway, alice, "Private"))["project_id"]
    await create(gateway, bob, "Bob's")
    c = gateway.client
    assert (await c.get(f"/projects/{pid}", headers=bob)).status_code == 404
    assert (await c.patch(f"/projects/{pid}", headers=bob, json={"name": "mine"})).status_code == 404
    assert (await c.delete(f"/projects/{pid}", headers=bob)).status_code == 404
    assert (await upload(gateway, bob, pid)).status_code == 404
    assert [p["name"] for p in (await c.get("/projects", headers=bob)).json()["items"]] == ["Bob's"]

    assert (await c.get(f"/projects/{pid}", headers=admin)).status_code == 200
    everyone = (await c.get("/projects", headers=admin)).json()
    assert everyone["total"] == 2
    # The platform admin acts as owner in every organization, so they change it too.
    assert (await c.patch(f"/projects/{pid}", headers=admin, json={"name": "x"})).status_code == 200
    assert (await c.get(f"/projects/{pid}", headers=alice)).json()["name"] == "x"
    assert (await c.delete(f"/projects/{pid}", headers=admin)).status_code == 204


async def test_archived_project_refuses_uploads_until_unarchived(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = auth(tokens, "alice")
    pid = str((await create(gateway, alice, "Old"))["project_id"])
    archived = await gateway.client.patch(f"/projects/{pid}", headers=alice, json={"archived": True})
    assert archived.json()["archived"] is True and archived.json()["archived_at"]

    for refused in (await upload(gateway, alice, pid), await upload_field_last(gateway, alice, pid)):
        assert refused.status_code == 409 and "archived" in refused.json()["detail"]
    assert await nothing_stored(gateway)

    listed = (await gateway.client.get("/projects?archived=true", headers=alice)).json()
    assert [p["project_id"] for p in listed["items"]] == [pid]
    assert (await gateway.client.get("/projects?archived=false", headers=alice)).json()["total"] == 0

    unarchived = await gateway.client.patch(f"/projects/{pid}", headers=alice, json={"archived": False})
    assert unarchived.json()["archived"] is False and unarchived.json()["archived_at"] is None
    assert (await upload(gateway, alice, pid)).status_code == 201


async def test_upload_into_a_project_with_the_field_before_or_after_the_file(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    alice = auth(tokens, "alice")
    pid = str((await create(gateway, alice, "Inbox"))["project_id"])
    first = await upload(gateway, alice, pid)
    assert first.status_code == 201, first.text
    last = await upload_field_last(gateway, alice, pid)
    assert last.status_code == 201, last.text
    loose = await upload(gateway, alice)
    for response in (first, last):
        assert response.json()["project_id"] == pid
        detail = await gateway.client.get(f"/files/{response.json()['file_id']}", headers=alice)
        assert detail.json()["project_id"] == pid
    assert loose.json()["project_id"] is None

    in_project = (await gateway.client.get(f"/files?project_id={pid}", headers=alice)).json()
    assert {f["file_id"] for f in in_project["items"]} == {first.json()["file_id"], last.json()["file_id"]}
    assert in_project["total"] == 2
    assert (await gateway.client.get("/files", headers=alice)).json()["total"] == 3


async def test_unknown_project_named_after_the_file_fails_cleanly(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = auth(tokens, "alice")
    bobs = str((await create(gateway, auth(tokens, "bob"), "Bob's"))["project_id"])
    for project_id in ("no-such-project", bobs):
        early = await upload(gateway, alice, project_id)
        assert early.status_code == 404 and early.json()["detail"] == "project not found"
        late = await upload_field_last(gateway, alice, project_id)
        assert late.status_code == 404 and late.json()["detail"] == "project not found"
    assert await nothing_stored(gateway)
    assert not [e for e in gateway.published if e.type == "file.uploaded.v1"]


async def test_move_a_file_between_projects(gateway: Gateway, tokens: TokenFactory) -> None:
    alice, bob = auth(tokens, "alice"), auth(tokens, "bob")
    a = str((await create(gateway, alice, "A"))["project_id"])
    b = str((await create(gateway, alice, "B"))["project_id"])
    bobs = str((await create(gateway, bob, "Bob's"))["project_id"])
    file_id = (await upload(gateway, alice, a)).json()["file_id"]
    c = gateway.client

    moved = await c.patch(f"/files/{file_id}", headers=alice, json={"project_id": b})
    assert moved.status_code == 200 and moved.json()["project_id"] == b
    assert (await c.get(f"/files?project_id={a}", headers=alice)).json()["total"] == 0
    assert (await c.get(f"/files?project_id={b}", headers=alice)).json()["total"] == 1

    assert (await c.patch(f"/files/{file_id}", headers=alice, json={"project_id": bobs})).status_code == 404
    assert (await c.patch(f"/files/{file_id}", headers=bob, json={"project_id": bobs})).status_code == 404
    assert (await c.patch("/files/nope", headers=alice, json={"project_id": a})).status_code == 404
    await c.patch(f"/projects/{a}", headers=alice, json={"archived": True})
    assert (await c.patch(f"/files/{file_id}", headers=alice, json={"project_id": a})).status_code == 409

    out = await c.patch(f"/files/{file_id}", headers=alice, json={"project_id": None})
    assert out.status_code == 200 and out.json()["project_id"] is None
    assert (await c.patch(f"/files/{file_id}", headers=alice, json={})).status_code == 422


async def test_listing_counts_files_and_bytes(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = auth(tokens, "alice")
    full = str((await create(gateway, alice, "Full"))["project_id"])
    empty = str((await create(gateway, alice, "Empty"))["project_id"])
    await upload(gateway, alice, full, data=CSV)
    await upload(gateway, alice, full, data=CSV + b"3,z\n")
    await upload(gateway, alice)
    page = (await gateway.client.get("/projects?limit=10", headers=alice)).json()
    assert page["total"] == 2 and page["limit"] == 10 and page["offset"] == 0
    counts = {p["project_id"]: (p["files"], p["bytes"]) for p in page["items"]}
    assert counts == {full: (2, 2 * len(CSV) + 4), empty: (0, 0)}
    assert [p["project_id"] for p in page["items"]] == [empty, full]  # newest first
    second = (await gateway.client.get("/projects?limit=1&offset=1", headers=alice)).json()
    assert [p["project_id"] for p in second["items"]] == [full] and second["total"] == 2
    one = (await gateway.client.get(f"/projects/{full}", headers=alice)).json()
    assert (one["files"], one["bytes"]) == (2, 2 * len(CSV) + 4)


async def test_delete_without_files_keeps_them_outside_any_project(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = auth(tokens, "alice")
    pid = str((await create(gateway, alice, "Temp"))["project_id"])
    ids = [(await upload(gateway, alice, pid)).json()["file_id"] for _ in range(2)]
    assert (await gateway.client.delete(f"/projects/{pid}", headers=alice)).status_code == 204
    assert (await gateway.client.get(f"/projects/{pid}", headers=alice)).status_code == 404
    for file_id in ids:
        record = (await gateway.client.get(f"/files/{file_id}", headers=alice)).json()
        assert record["project_id"] is None
        assert await gateway.infra.require_blobs().exists(file_id)
    assert (await gateway.client.get("/files", headers=alice)).json()["total"] == 2
    await create(gateway, alice, "Temp")  # the name is free again


async def test_delete_with_files_removes_records_blobs_and_announces(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = auth(tokens, "alice")
    pid = str((await create(gateway, alice, "Doomed"))["project_id"])
    doomed = [(await upload(gateway, alice, pid)).json()["file_id"] for _ in range(2)]
    kept = (await upload(gateway, alice)).json()["file_id"]
    response = await gateway.client.delete(f"/projects/{pid}?with_files=true", headers=alice)
    assert response.status_code == 204
    assert (await gateway.client.get(f"/projects/{pid}", headers=alice)).status_code == 404
    blobs = gateway.infra.require_blobs()
    for file_id in doomed:
        assert (await gateway.client.get(f"/files/{file_id}", headers=alice)).status_code == 404
        assert not await blobs.exists(file_id)
    assert await blobs.exists(kept)

    async def deleted_and_announced() -> bool:
        announced = {e.data["file_id"] for e in gateway.published if e.type == "file.deleted.v1"}
        records = await gateway.infra.db["files"].count_documents({"_id": {"$in": doomed}})
        return announced == set(doomed) and records == 0

    await eventually(deleted_and_announced)
    assert [f["file_id"] for f in (await gateway.client.get("/files", headers=alice)).json()["items"]] == [kept]
