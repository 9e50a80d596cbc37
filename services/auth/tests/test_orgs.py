"""Organizations over HTTP: personal ones, creating and changing shared ones, the role matrix, quotas, usage,
deletion, the ``orgs`` claim, and the events that announce each change."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from ferry_auth.orgs import OrgRepository
from ferry_auth.usage import UsageConsumer
from ferry_auth.users import UserRepository
from ferry_core.events import Envelope, OrgUsage


@pytest.fixture
def events(org_events: list[Envelope]) -> list[Envelope]:
    return org_events


def of_type(events: list[Envelope], event_type: str, org_id: str | None = None) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == event_type and (org_id is None or e.data["org_id"] == org_id)]


# -- personal organizations -------------------------------------------------------------


async def test_registering_makes_a_personal_organization_and_announces_it(api, events, wait_for) -> None:
    user, headers = await api.user("alice")
    listing = (await api.client.get("/orgs", headers=headers)).json()
    assert listing["total"] == 1
    (item,) = listing["items"]
    assert (item["org_id"], item["name"], item["personal"], item["role"]) == (user["id"], "alice", True, "owner")
    org = (await api.client.get(f"/orgs/{user['id']}", headers=headers)).json()
    assert org["members"] == 1
    assert org["quotas"] == {"max_bytes": None, "max_files": None, "uploads_per_minute": None}
    assert org["usage"] == {"bytes": 0, "files": 0, "measured_at": None}

    await wait_for(lambda: of_type(events, "org.member.updated.v1", user["id"]))
    (announced,) = [e for e in events if e.type == "org.updated.v1" and e.data["org_id"] == user["id"]]
    assert announced.org_id == user["id"]
    assert announced.data["personal"] is True and announced.data["revision"] == 1
    assert of_type(events, "org.member.updated.v1", user["id"]) == [
        {"org_id": user["id"], "user_id": user["id"], "role": "owner", "revision": 1}
    ]


async def test_users_from_before_organizations_get_a_personal_one_at_start(
    settings, start, mongo_db, events, wait_for
) -> None:
    old = await UserRepository(mongo_db).create(username="oldtimer", email="old@example.com", password_hash="x")
    async with start(settings):
        pass
    async with start(settings):  # a second start changes nothing
        pass
    assert await mongo_db["organizations"].count_documents({"_id": old.id, "personal": True}) == 1
    assert await mongo_db["memberships"].find_one({"_id": f"{old.id}:{old.id}"}) is not None
    await wait_for(lambda: of_type(events, "org.member.updated.v1", old.id))
    assert len(of_type(events, "org.updated.v1", old.id)) == 1


async def test_a_personal_organization_is_not_deleted_nor_shared(api) -> None:
    user, headers = await api.user("alice")
    response = await api.client.delete(f"/orgs/{user['id']}", headers=headers)
    assert response.status_code == 409
    assert response.json() == {"detail": "a personal organization cannot be deleted"}
    response = await api.client.post(f"/orgs/{user['id']}/invitations", json={}, headers=headers)
    assert response.status_code == 409
    assert response.json() == {"detail": "a personal organization takes no invitations"}
    response = await api.client.delete(f"/orgs/{user['id']}/members/{user['id']}", headers=headers)
    assert response.status_code == 409


# -- creating, reading, renaming ---------------------------------------------------------


async def test_creating_an_organization_makes_the_caller_owner(api, events, wait_for) -> None:
    user, headers = await api.user("alice")
    response = await api.client.post("/orgs", json={"name": "  Acme  "}, headers=headers)
    assert response.status_code == 201, response.text
    org = response.json()
    assert (org["name"], org["personal"], org["role"], org["members"]) == ("Acme", False, "owner", 1)
    assert (await api.client.get(f"/orgs/{org['org_id']}", headers=headers)).json() == org
    names = [item["name"] for item in (await api.client.get("/orgs", headers=headers)).json()["items"]]
    assert names == ["alice", "Acme"]
    await wait_for(lambda: of_type(events, "org.member.updated.v1", org["org_id"]))
    assert of_type(events, "org.updated.v1", org["org_id"])[0]["created_by"] == user["id"]
    for body in ({}, {"name": ""}, {"name": "  "}, {"name": "x" * 101}, {"name": "ok", "extra": 1}):
        assert (await api.client.post("/orgs", json=body, headers=headers)).status_code == 422, body
    assert (await api.client.post("/orgs", json={"name": "x"})).status_code == 401


async def test_renaming_needs_admin_and_bumps_the_revision(api, team, events, wait_for) -> None:
    for who, expected in (("viewer", 403), ("member", 403), ("outsider", 404), ("admin", 200), ("owner", 200)):
        response = await api.client.patch(f"/orgs/{team.id}", json={"name": f"by {who}"}, headers=team.headers(who))
        assert response.status_code == expected, (who, response.text)
    refused = await api.client.patch(f"/orgs/{team.id}", json={"name": "x"}, headers=team.headers("member"))
    assert refused.json() == {"detail": "this needs the admin role in the organization; yours is member"}
    platform = await api.client.patch(f"/orgs/{team.id}", json={"name": "by root"}, headers=team.headers("platform"))
    assert platform.status_code == 200 and platform.json()["role"] == "owner"
    await wait_for(lambda: len(of_type(events, "org.updated.v1", team.id)) == 3)
    assert [(e["name"], e["revision"]) for e in of_type(events, "org.updated.v1", team.id)] == [
        ("by admin", 2),
        ("by owner", 3),
        ("by root", 4),
    ]


async def test_reading_an_organization_by_role(api, team) -> None:
    for who in ("owner", "admin", "member", "viewer", "platform"):
        response = await api.client.get(f"/orgs/{team.id}", headers=team.headers(who))
        assert response.status_code == 200, who
        expected = "owner" if who == "platform" else who
        assert response.json()["role"] == expected and response.json()["members"] == 4
    outsider = await api.client.get(f"/orgs/{team.id}", headers=team.headers("outsider"))
    assert outsider.status_code == 404 and outsider.json() == {"detail": "organization not found"}
    assert (await api.client.get("/orgs/nope", headers=team.headers("owner"))).status_code == 404


async def test_listing_every_organization_is_for_the_platform_admin(api, team) -> None:
    everything = (await api.client.get("/orgs?all=true", headers=team.headers("platform"))).json()
    assert team.id in {item["org_id"] for item in everything["items"]}
    assert everything["total"] == 7  # six personal ones (the platform admin's too) and Acme
    refused = await api.client.get("/orgs?all=true", headers=team.headers("owner"))
    assert refused.status_code == 403
    outsider = (await api.client.get("/orgs", headers=team.headers("outsider"))).json()
    assert [item["org_id"] for item in outsider["items"]] == [team.user_id("outsider")]


# -- quotas and usage -------------------------------------------------------------------


async def test_only_the_platform_admin_sets_quotas(api, team, events, wait_for) -> None:
    quotas = {"max_bytes": 1000, "max_files": 10, "uploads_per_minute": None}
    for who, expected in (("owner", 403), ("admin", 403), ("viewer", 403), ("outsider", 404)):
        response = await api.client.put(f"/orgs/{team.id}/quotas", json=quotas, headers=team.headers(who))
        assert response.status_code == expected, who
    response = await api.client.put(f"/orgs/{team.id}/quotas", json=quotas, headers=team.headers("platform"))
    assert response.status_code == 200, response.text
    assert response.json()["quotas"] == quotas
    assert (await api.client.get(f"/orgs/{team.id}", headers=team.headers("viewer"))).json()["quotas"] == quotas
    await wait_for(lambda: len(of_type(events, "org.updated.v1", team.id)) == 1)
    (announced,) = of_type(events, "org.updated.v1", team.id)
    assert announced["quotas"] == quotas and announced["revision"] == 2
    for body in ({"max_bytes": -1}, {"max_files": 2**64}, {"max_bytes": "many"}, {"other": 1}):
        bad = await api.client.put(f"/orgs/{team.id}/quotas", json=body, headers=team.headers("platform"))
        assert bad.status_code == 422, body


async def test_usage_from_the_gateway_is_shown_with_the_organization(api, team, bus) -> None:
    measured = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    snapshot = OrgUsage(org_id=team.id, bytes=500, files=2, measured_at=measured)
    await bus.publish(Envelope.wrap(snapshot, source="ferry-ingest", org_id=team.id))
    deadline = time.monotonic() + 5
    while (usage := (await api.client.get(f"/orgs/{team.id}", headers=team.headers("viewer"))).json()["usage"])[
        "bytes"
    ] != 500:
        assert time.monotonic() < deadline, usage
        await asyncio.sleep(0.01)
    assert usage == {"bytes": 500, "files": 2, "measured_at": "2026-05-01T12:00:00Z"}


async def test_the_newest_usage_snapshot_wins(mongo_db) -> None:
    orgs = OrgRepository(mongo_db)
    await orgs.create(name="Acme", created_by="u1", org_id="o1")
    consumer = UsageConsumer(orgs)
    measured = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    async def deliver(bytes_: int, at: datetime, org_id: str = "o1") -> None:
        usage = OrgUsage(org_id=org_id, bytes=bytes_, files=1, measured_at=at)
        await consumer.handle(Envelope.wrap(usage, source="ferry-ingest", org_id=org_id))

    await deliver(500, measured)
    await deliver(1, measured - timedelta(minutes=1))  # older, arriving late
    await deliver(2, measured)  # a redelivery of the same moment
    await deliver(3, measured, org_id="unknown")
    org = await orgs.get("o1")
    assert org is not None and org.usage is not None and org.usage.bytes == 500
    await deliver(700, measured + timedelta(seconds=1))
    org = await orgs.get("o1")
    assert org is not None and org.usage is not None and org.usage.bytes == 700
    assert await mongo_db["organizations"].count_documents({}) == 1


# -- deleting ---------------------------------------------------------------------------


async def test_only_an_owner_deletes_an_organization(api, team, events, wait_for) -> None:
    for who, expected in (("admin", 403), ("member", 403), ("outsider", 404)):
        assert (await api.client.delete(f"/orgs/{team.id}", headers=team.headers(who))).status_code == expected
    assert (await api.client.delete(f"/orgs/{team.id}", headers=team.headers("owner"))).status_code == 204
    assert (await api.client.get(f"/orgs/{team.id}", headers=team.headers("owner"))).status_code == 404
    assert (await api.client.delete(f"/orgs/{team.id}", headers=team.headers("owner"))).status_code == 404
    await wait_for(lambda: len(of_type(events, "org.member.updated.v1", team.id)) == 4)
    (deleted,) = of_type(events, "org.updated.v1", team.id)
    assert deleted["deleted"] is True and deleted["revision"] == 2
    assert {e["role"] for e in of_type(events, "org.member.updated.v1", team.id)} == {None}
    names = [i["name"] for i in (await api.client.get("/orgs", headers=team.headers("member"))).json()["items"]]
    assert names == ["mia"]


async def test_the_platform_admin_deletes_any_shared_organization(api, team) -> None:
    assert (await api.client.delete(f"/orgs/{team.id}", headers=team.headers("platform"))).status_code == 204


# -- the orgs claim -----------------------------------------------------------------------


async def test_access_tokens_carry_the_callers_memberships(api, team) -> None:
    def orgs_of(token: str) -> dict[str, str]:
        return dict(jwt.decode(token, options={"verify_signature": False})["orgs"])

    tokens = await api.login("vic")
    assert orgs_of(tokens["access_token"]) == {team.user_id("viewer"): "owner", team.id: "viewer"}
    promote = await api.client.patch(
        f"/orgs/{team.id}/members/{team.user_id('viewer')}", json={"role": "member"}, headers=team.headers("admin")
    )
    assert promote.status_code == 200
    refreshed = (await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
    assert orgs_of(refreshed["access_token"])[team.id] == "member"
    form = {"username": "vic", "password": api.password}
    assert orgs_of((await api.client.post("/auth/token", data=form)).json()["access_token"])[team.id] == "member"


# -- deleting a user ------------------------------------------------------------------------


async def test_deleting_a_user_removes_their_memberships_and_personal_organization(api, team, events, wait_for) -> None:
    mia = team.user_id("member")
    assert (await api.client.delete(f"/users/{mia}", headers=team.headers("platform"))).status_code == 204
    await wait_for(lambda: of_type(events, "org.updated.v1", mia))
    (personal,) = of_type(events, "org.updated.v1", mia)
    assert personal["deleted"] is True and personal["personal"] is True
    removals = [(e["org_id"], e["role"]) for e in of_type(events, "org.member.updated.v1") if e["user_id"] == mia]
    assert sorted(removals) == sorted([(mia, None), (team.id, None)])
    assert (await api.client.get(f"/orgs/{team.id}", headers=team.headers("owner"))).json()["members"] == 3


async def test_the_last_owner_of_a_shared_organization_is_not_deleted(api, team) -> None:
    olive = team.user_id("owner")
    response = await api.client.delete(f"/users/{olive}", headers=team.headers("platform"))
    assert response.status_code == 409
    assert team.id in response.json()["detail"]
    promote = await api.client.patch(
        f"/orgs/{team.id}/members/{team.user_id('admin')}", json={"role": "owner"}, headers=team.headers("platform")
    )
    assert promote.status_code == 200
    assert (await api.client.delete(f"/users/{olive}", headers=team.headers("platform"))).status_code == 204
