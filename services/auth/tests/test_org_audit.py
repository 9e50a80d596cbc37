"""Organization actions in the audit log, and who reads an organization's log."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any


async def entries(api, headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
    response = await api.client.get("/audit", params={"limit": "500", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def until_logged(api, headers: dict[str, str], actions: set[str], **params: str) -> list[dict[str, Any]]:
    """The log's entries once every one of ``actions`` is among them (the log is written from the bus)."""
    deadline = time.monotonic() + 5
    while True:
        found = await entries(api, headers, **params)
        if actions <= {e["action"] for e in found}:
            return found
        assert time.monotonic() < deadline, (actions, [e["action"] for e in found])
        await asyncio.sleep(0.02)


async def test_every_organization_action_is_audited_with_its_organization(api, team) -> None:
    owner, platform = team.headers("owner"), team.headers("platform")
    await api.client.patch(f"/orgs/{team.id}", json={"name": "Acme 2"}, headers=owner)
    await api.client.put(f"/orgs/{team.id}/quotas", json={"max_files": 5}, headers=platform)
    await api.client.patch(f"/orgs/{team.id}/members/{team.user_id('viewer')}", json={"role": "member"}, headers=owner)
    await api.client.delete(f"/orgs/{team.id}/members/{team.user_id('member')}", headers=owner)
    revoked = await api.invite(team.id, owner)
    await api.client.delete(f"/orgs/{team.id}/invitations/{revoked['invitation_id']}", headers=owner)
    await api.client.delete(f"/orgs/{team.id}", headers=owner)
    expected = {
        "org.created",
        "org.updated",
        "quota.changed",
        "org.member_role_changed",
        "org.member_removed",
        "org.invitation_created",
        "org.invitation_accepted",
        "org.member_added",
        "org.invitation_revoked",
        "org.deleted",
    }
    found = await until_logged(api, platform, expected, org=team.id)
    assert {e["org_id"] for e in found} == {team.id}
    by_action = {e["action"]: e for e in found}
    assert by_action["quota.changed"]["details"] == {"max_bytes": None, "max_files": 5, "uploads_per_minute": None}
    assert by_action["quota.changed"]["actor_name"] == api.admin_username
    assert by_action["org.member_removed"]["target"] == {"type": "user", "id": team.user_id("member")}
    assert by_action["org.invitation_revoked"]["target"] == {"type": "invitation", "id": revoked["invitation_id"]}
    assert by_action["org.created"]["actor_id"] == team.user_id("owner")


async def test_an_organization_admin_reads_only_their_organizations_log(api, team) -> None:
    await api.client.patch(f"/orgs/{team.id}", json={"name": "Acme 2"}, headers=team.headers("owner"))
    other = await api.create_org("Other", team.headers("outsider"))
    await until_logged(api, team.headers("platform"), {"org.created", "org.updated"})

    for who in ("owner", "admin"):
        for how in ({"headers": {"X-Ferry-Org": team.id}}, {"params": {"org": team.id}}):
            response = await api.client.get(
                "/audit", headers={**team.headers(who), **how.get("headers", {})}, params=how.get("params")
            )
            assert response.status_code == 200, (who, how)
            items = response.json()["items"]
            assert items and {e["org_id"] for e in items} == {team.id}
            assert "org.updated" in {e["action"] for e in items}
        export = await api.client.get("/audit/export", headers={**team.headers(who), "X-Ferry-Org": team.id})
        assert export.status_code == 200
        assert {json.loads(line)["org_id"] for line in export.text.splitlines()} == {team.id}

    for who, expected in (("member", 403), ("viewer", 403), ("outsider", 404)):
        for path in ("/audit", "/audit/export"):
            response = await api.client.get(path, headers={**team.headers(who), "X-Ferry-Org": team.id})
            assert response.status_code == expected, (who, path)
    refused = await api.client.get("/audit", headers={**team.headers("member"), "X-Ferry-Org": team.id})
    assert refused.json() == {"detail": "this needs the admin role in the organization; yours is member"}
    # Another organization's log is not theirs to read, whatever their role here.
    assert (
        await api.client.get("/audit", params={"org": other["org_id"]}, headers=team.headers("owner"))
    ).status_code == 404

    everything = await entries(api, team.headers("platform"))
    assert {team.id, other["org_id"], None} <= {e["org_id"] for e in everything}
    only_other = await entries(api, team.headers("platform"), org=other["org_id"])
    assert {e["org_id"] for e in only_other} == {other["org_id"]}
