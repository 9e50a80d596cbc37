"""Organization scope: members follow their organization's files; everyone else is told they do not exist."""

from __future__ import annotations

import asyncio
import json

import httpx

from ferry_core.events import FileStatus
from ferry_testkit.events import file_progress

WAIT = 10.0
ORG = "org-acme"
VIEWER_OF_ORG = {"orgs": {ORG: "viewer"}}
NOT_FOUND = (404, {"detail": "file not found"})


async def test_a_member_follows_a_file_of_the_organization_by_id(notifier):
    file_id = await notifier.seed_file("bob", org_id=ORG, progress=30)
    async with notifier.socket(f"/ws/{file_id}", "alice", VIEWER_OF_ORG) as ws:
        first = await notifier.receive(ws)
        assert (first["type"], first["data"]["progress"]) == ("status_update", 30)
        await notifier.publish(file_progress(file_id, "bob", 60), org_id=ORG)
        assert (await notifier.receive(ws))["data"]["progress"] == 60


async def test_an_outsider_is_refused_as_if_the_file_did_not_exist(notifier):
    file_id = await notifier.seed_file("bob", org_id=ORG)
    assert await notifier.refused(f"/ws/{file_id}", "carol") == NOT_FOUND
    assert await notifier.refused(f"/ws/{file_id}", "carol", {"orgs": {"org-other": "owner"}}) == NOT_FOUND
    # The owner keeps access to their own file; a platform admin sees any.
    async with notifier.socket(f"/ws/{file_id}", "bob") as ws:
        assert (await notifier.receive(ws))["data"]["file_id"] == file_id
    async with notifier.socket(f"/ws/{file_id}", "root", {"role": "admin"}) as ws:
        assert (await notifier.receive(ws))["data"]["file_id"] == file_id


async def test_a_record_without_organization_is_its_owners_personal_one(notifier):
    file_id = await notifier.seed_file("bob")  # written before organizations
    assert await notifier.refused(f"/ws/{file_id}", "alice", VIEWER_OF_ORG) == NOT_FOUND


async def test_ws_with_org_follows_that_organizations_files_only(notifier):
    in_org = await notifier.seed_file("bob", org_id=ORG)
    elsewhere = await notifier.seed_file("bob", org_id="org-other")
    personal = await notifier.seed_file("alice")
    async with notifier.socket(f"/ws?org={ORG}", "alice", VIEWER_OF_ORG) as ws:
        await notifier.publish(file_progress(elsewhere, "bob", 10), org_id="org-other")
        await notifier.publish(file_progress(personal, "alice", 11))  # her own, but not in this organization
        await notifier.publish(file_progress(in_org, "bob", 12), org_id=ORG)
        message = await notifier.receive(ws)
        assert (message["data"]["file_id"], message["data"]["progress"]) == (in_org, 12)
        await ws.send(json.dumps({"type": "ping"}))
        assert await notifier.receive(ws) == {"type": "pong"}  # nothing else came in between


async def test_the_header_names_the_organization_too(notifier):
    in_org = await notifier.seed_file("bob", org_id=ORG)
    token = notifier.token("alice", **VIEWER_OF_ORG)
    headers = {"X-Ferry-Org": ORG, "Authorization": f"Bearer {token}"}
    async with notifier.socket("/ws", additional_headers=headers) as ws:
        await notifier.publish(file_progress(in_org, "bob", 12), org_id=ORG)
        assert (await notifier.receive(ws))["data"]["file_id"] == in_org


async def test_an_organization_the_token_does_not_list_is_404(notifier):
    missing = (404, {"detail": "organization not found"})
    assert await notifier.refused("/ws?org=org-other", "alice", VIEWER_OF_ORG) == missing
    token = notifier.token("alice", **VIEWER_OF_ORG)
    headers = {"X-Ferry-Org": "org-other", "Authorization": f"Bearer {token}"}
    assert await notifier.refused("/ws", additional_headers=headers) == missing
    async with httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client:
        response = await client.get("/events", params={"org": "org-other", "token": token})
    assert (response.status_code, response.json()) == missing


async def test_a_platform_admin_may_name_any_organization(notifier):
    in_org = await notifier.seed_file("bob", org_id=ORG)
    async with notifier.socket(f"/ws?org={ORG}", "root", {"role": "admin"}) as ws:
        await notifier.publish(file_progress(in_org, "bob", 12), org_id=ORG)
        assert (await notifier.receive(ws))["data"]["file_id"] == in_org


async def test_subscribe_applies_the_same_check(notifier):
    in_org = await notifier.seed_file("bob", org_id=ORG, progress=5)
    foreign = await notifier.seed_file("carol", org_id="org-other")
    async with notifier.socket("/ws", "alice", VIEWER_OF_ORG) as ws:
        await ws.send(json.dumps({"type": "subscribe", "file_id": foreign}))
        assert await notifier.receive(ws) == {"type": "error", "detail": "file not found", "file_id": foreign}
        await ws.send(json.dumps({"type": "subscribe", "file_id": in_org}))
        state = await notifier.receive(ws)
        assert (state["type"], state["data"]["file_id"]) == ("status_update", in_org)
        await notifier.publish(file_progress(foreign, "carol", 50), org_id="org-other")
        await notifier.publish(file_progress(in_org, "bob", 50), org_id=ORG)
        assert (await notifier.receive(ws))["data"]["file_id"] == in_org


async def test_sse_streams_the_active_organizations_files(notifier):
    in_org = await notifier.seed_file("bob", org_id=ORG)
    personal = await notifier.seed_file("alice", status=FileStatus.QUEUED, progress=0)
    params = {"org": ORG, "token": notifier.token("alice", **VIEWER_OF_ORG)}
    async with (
        httpx.AsyncClient(base_url=notifier.url, timeout=WAIT) as client,
        client.stream("GET", "/events", params=params) as response,
    ):
        assert response.status_code == 200
        events = notifier.sse_events(response)
        await notifier.publish(file_progress(personal, "alice", 10))
        await notifier.publish(file_progress(in_org, "bob", 20), org_id=ORG)
        event, message = await asyncio.wait_for(anext(events), WAIT)
    assert (event, message["data"]["file_id"]) == ("progress_update", in_org)
