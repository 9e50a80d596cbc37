"""Members of an organization: who may list, change and remove them, the owner rules, and the announced revisions."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ferry_core.events import Envelope


def memberships_of(events: list[Envelope], org_id: str, user_id: str) -> list[tuple[str | None, int]]:
    return [
        (e.data["role"], e.data["revision"])
        for e in events
        if e.type == "org.member.updated.v1" and e.data["org_id"] == org_id and e.data["user_id"] == user_id
    ]


async def set_role(api, team, who: str, target: str, role: str) -> Any:
    return await api.client.patch(
        f"/orgs/{team.id}/members/{team.user_id(target)}", json={"role": role}, headers=team.headers(who)
    )


async def remove(api, team, who: str, target: str) -> Any:
    return await api.client.delete(f"/orgs/{team.id}/members/{team.user_id(target)}", headers=team.headers(who))


async def test_any_member_lists_the_members(api, team) -> None:
    for who in (*team.ROLES, "platform"):
        response = await api.client.get(f"/orgs/{team.id}/members", headers=team.headers(who))
        assert response.status_code == 200, who
        assert [(m["username"], m["role"]) for m in response.json()] == [
            ("olive", "owner"),
            ("adam", "admin"),
            ("mia", "member"),
            ("vic", "viewer"),
        ]
    assert (await api.client.get(f"/orgs/{team.id}/members", headers=team.headers("outsider"))).status_code == 404


@pytest.mark.parametrize(
    ("who", "target", "role", "expected"),
    [
        ("viewer", "member", "viewer", 403),
        ("member", "viewer", "member", 403),
        ("outsider", "viewer", "member", 404),
        ("admin", "viewer", "member", 200),
        ("admin", "member", "admin", 200),
        ("admin", "viewer", "owner", 403),  # only an owner grants owner
        ("admin", "owner", "admin", 403),  # ... or takes it away
        ("owner", "viewer", "owner", 200),
        ("platform", "member", "owner", 200),
        ("owner", "outsider", "member", 404),  # not a member: nothing to change
    ],
)
async def test_role_changes_by_role(api, team, who: str, target: str, role: str, expected: int) -> None:
    response = await set_role(api, team, who, target, role)
    assert response.status_code == expected, response.text
    if expected == 200:
        assert response.json()["role"] == role
        assert response.json()["username"] == team.people[target][0]["username"]


async def test_the_last_owner_can_be_neither_demoted_nor_removed(api, team) -> None:
    demoted = await set_role(api, team, "owner", "owner", "admin")
    assert demoted.status_code == 409
    assert demoted.json() == {"detail": "the last owner cannot be demoted; make another member an owner first"}
    left = await remove(api, team, "owner", "owner")
    assert left.status_code == 409
    assert left.json() == {"detail": "the last owner cannot leave; make another member an owner first"}
    assert (await remove(api, team, "platform", "owner")).status_code == 409
    # With a second owner, either may step down.
    assert (await set_role(api, team, "owner", "admin", "owner")).status_code == 200
    assert (await set_role(api, team, "admin", "owner", "member")).status_code == 200
    assert (await remove(api, team, "admin", "admin")).status_code == 409  # now the last owner again


async def test_two_owners_stepping_down_at_the_same_moment_leave_an_owner(api, team) -> None:
    assert (await set_role(api, team, "owner", "admin", "owner")).status_code == 200
    for _ in range(5):
        # Each owner demotes themself at once: both pass the count made before the change.
        answers = await asyncio.gather(
            set_role(api, team, "owner", "owner", "member"), set_role(api, team, "admin", "admin", "member")
        )
        assert sorted(a.status_code for a in answers) in ([200, 409], [409, 409]), [a.text for a in answers]
        members = await api.client.get(f"/orgs/{team.id}/members", headers=team.headers("platform"))
        owners = [m["username"] for m in members.json() if m["role"] == "owner"]
        assert owners, "the organization was left without an owner"
        # Make both owners again for the next round.
        for name in ("owner", "admin"):
            if team.people[name][0]["username"] not in owners:
                assert (await set_role(api, team, "platform", name, "owner")).status_code == 200


@pytest.mark.parametrize(
    ("who", "target", "expected"),
    [
        ("viewer", "member", 403),
        ("member", "viewer", 403),
        ("outsider", "viewer", 404),
        ("admin", "owner", 403),
        ("admin", "member", 204),
        ("viewer", "viewer", 204),  # leaving
        ("member", "member", 204),
        ("platform", "viewer", 204),
    ],
)
async def test_removing_by_role(api, team, who: str, target: str, expected: int) -> None:
    assert (await remove(api, team, who, target)).status_code == expected


async def test_a_removed_member_loses_the_organization(api, team) -> None:
    assert (await remove(api, team, "admin", "member")).status_code == 204
    assert (await api.client.get(f"/orgs/{team.id}", headers=team.headers("member"))).status_code == 404
    assert (await remove(api, team, "admin", "member")).status_code == 404
    assert (await api.client.get(f"/orgs/{team.id}", headers=team.headers("owner"))).json()["members"] == 3


async def test_membership_revisions_keep_growing_across_leaving_and_rejoining(api, team, org_events, wait_for) -> None:
    mia = team.user_id("member")
    await set_role(api, team, "admin", "member", "viewer")
    await set_role(api, team, "admin", "member", "viewer")  # no change: nothing announced
    await remove(api, team, "member", "member")
    invitation = await api.invite(team.id, team.headers("owner"), "admin")
    await api.accept(invitation["token"], team.headers("member"))
    await wait_for(lambda: len(memberships_of(org_events, team.id, mia)) == 3)
    assert memberships_of(org_events, team.id, mia) == [("viewer", 2), (None, 3), ("admin", 4)]
    assert all(e.org_id == e.data["org_id"] for e in org_events)


async def test_bad_role_bodies_are_refused(api, team) -> None:
    url = f"/orgs/{team.id}/members/{team.user_id('member')}"
    for body in ({}, {"role": "superuser"}, {"role": "admin", "x": 1}, {"role": None}):
        assert (await api.client.patch(url, json=body, headers=team.headers("owner"))).status_code == 422, body
