"""Invitations: made by admins (owners for owners), shown once, stored hashed, accepted once, revoked, expired."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from ferry_core.events import utcnow


async def test_an_invitation_is_shown_once_and_accepted_once(api, team, mongo_db) -> None:
    response = await api.client.post(
        f"/orgs/{team.id}/invitations",
        json={"role": "viewer", "email": "new@example.com"},
        headers=team.headers("admin"),
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    invitation = response.json()
    token = invitation["token"]
    assert token.startswith("fri_") and invitation["role"] == "viewer" and invitation["email"] == "new@example.com"
    assert invitation["expires_at"] > invitation["created_at"]
    doc = await mongo_db["invitations"].find_one({"_id": invitation["invitation_id"]})
    assert doc["token_hash"] == hashlib.sha256(token.encode()).hexdigest() and token not in str(doc)
    listing = await api.client.get(f"/orgs/{team.id}/invitations", headers=team.headers("owner"))
    assert [i["invitation_id"] for i in listing.json()["items"]] == [invitation["invitation_id"]]
    assert token not in listing.text

    newcomer, headers = await api.user("nina")
    membership = await api.accept(token, headers)
    assert (membership["org_id"], membership["user_id"], membership["role"]) == (team.id, newcomer["id"], "viewer")
    assert (await api.client.get(f"/orgs/{team.id}", headers=headers)).json()["role"] == "viewer"
    listing = await api.client.get(f"/orgs/{team.id}/invitations", headers=team.headers("owner"))
    assert listing.json() == {"items": []}

    again = await api.client.post("/invitations/accept", json={"token": token}, headers=team.headers("outsider"))
    assert again.status_code == 410 and again.json() == {"detail": "invitation was already used"}


async def test_who_may_invite(api, team) -> None:
    url = f"/orgs/{team.id}/invitations"
    for who, role, expected in (
        ("viewer", "viewer", 403),
        ("member", "member", 403),
        ("outsider", "member", 404),
        ("admin", "admin", 201),
        ("admin", "owner", 403),
        ("owner", "owner", 201),
        ("platform", "owner", 201),
    ):
        response = await api.client.post(url, json={"role": role}, headers=team.headers(who))
        assert response.status_code == expected, (who, role, response.text)
    refused = await api.client.post(url, json={"role": "owner"}, headers=team.headers("admin"))
    assert refused.json() == {"detail": "only an owner may invite an owner"}
    for who, expected in (("member", 403), ("outsider", 404), ("admin", 200)):
        assert (await api.client.get(url, headers=team.headers(who))).status_code == expected
    for body in ({"role": "king"}, {"email": "not an email"}, {"role": "member", "x": 1}):
        assert (await api.client.post(url, json=body, headers=team.headers("owner"))).status_code == 422, body


async def test_a_revoked_invitation_cannot_be_accepted(api, team) -> None:
    invitation = await api.invite(team.id, team.headers("owner"))
    url = f"/orgs/{team.id}/invitations/{invitation['invitation_id']}"
    assert (await api.client.delete(url, headers=team.headers("member"))).status_code == 403
    assert (await api.client.delete(url, headers=team.headers("outsider"))).status_code == 404
    assert (await api.client.delete(url, headers=team.headers("admin"))).status_code == 204
    assert (await api.client.delete(url, headers=team.headers("admin"))).status_code == 404
    body = {"token": invitation["token"]}
    refused = await api.client.post("/invitations/accept", json=body, headers=team.headers("outsider"))
    assert refused.status_code == 410 and refused.json() == {"detail": "invitation was revoked"}


async def test_an_invitation_is_revoked_only_through_its_own_organization(api, team) -> None:
    invitation = await api.invite(team.id, team.headers("owner"))
    other = await api.create_org("Other", team.headers("outsider"))
    url = f"/orgs/{other['org_id']}/invitations/{invitation['invitation_id']}"
    response = await api.client.delete(url, headers=team.headers("outsider"))
    assert response.status_code == 404 and response.json() == {"detail": "invitation not found"}
    await api.accept(invitation["token"], team.headers("outsider"))  # still good


async def test_an_expired_or_unknown_invitation_cannot_be_accepted(api, team, mongo_db) -> None:
    invitation = await api.invite(team.id, team.headers("owner"))
    await mongo_db["invitations"].update_one(
        {"_id": invitation["invitation_id"]}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    body = {"token": invitation["token"]}
    expired = await api.client.post("/invitations/accept", json=body, headers=team.headers("outsider"))
    assert expired.status_code == 410 and expired.json() == {"detail": "invitation has expired"}
    assert (await api.client.get(f"/orgs/{team.id}/invitations", headers=team.headers("owner"))).json() == {"items": []}
    unknown = await api.client.post("/invitations/accept", json={"token": "fri_nope"}, headers=team.headers("outsider"))
    assert unknown.status_code == 404 and unknown.json() == {"detail": "invitation not found"}
    assert (await api.client.post("/invitations/accept", json=body)).status_code == 401
    assert (
        await api.client.post("/invitations/accept", json={"token": ""}, headers=team.headers("owner"))
    ).status_code == 422


async def test_an_invitation_to_a_deleted_organization_is_not_found(api, team) -> None:
    invitation = await api.invite(team.id, team.headers("owner"))
    assert (await api.client.delete(f"/orgs/{team.id}", headers=team.headers("owner"))).status_code == 204
    body = {"token": invitation["token"]}
    response = await api.client.post("/invitations/accept", json=body, headers=team.headers("outsider"))
    assert response.status_code == 404


async def test_accepting_as_a_member_keeps_the_higher_role(api, team) -> None:
    lower = await api.invite(team.id, team.headers("owner"), "viewer")
    membership = await api.accept(lower["token"], team.headers("admin"))
    assert membership["role"] == "admin"
    higher = await api.invite(team.id, team.headers("owner"), "admin")
    membership = await api.accept(higher["token"], team.headers("viewer"))
    assert membership["role"] == "admin"


async def test_invitations_last_as_configured(settings_with, start) -> None:
    async with start(settings_with(invitation_ttl_days=2)) as client:
        body = {"username": "olive", "email": "olive@example.com", "password": "correct horse battery"}
        assert (await client.post("/auth/register", json=body)).status_code == 201
        login = await client.post("/auth/login", json={"username": "olive", "password": body["password"]})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        org = (await client.post("/orgs", json={"name": "Acme"}, headers=headers)).json()
        made = (await client.post(f"/orgs/{org['org_id']}/invitations", json={}, headers=headers)).json()
    created, expires = (made[k] for k in ("created_at", "expires_at"))
    lifetime = datetime.fromisoformat(expires) - datetime.fromisoformat(created)
    assert lifetime == timedelta(days=2)
