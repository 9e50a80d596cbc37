"""No organization change goes unannounced: one whose publish never happened (the process died between
storing it and publishing it, or the broker refused) is published by the re-announcer."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from ferry_auth.app import create_app
from ferry_auth.memberships import MembershipRepository
from ferry_auth.orgs import OrgRepository
from ferry_core.events import Envelope
from ferry_core.orgs import OrgRole


async def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_changes_stored_but_never_published_are_published_later(
    settings_with: Any, infra: Any, org_events: list[Envelope]
) -> None:
    app = create_app(settings_with(reannounce_interval_seconds=0.2), infra)
    async with app.router.lifespan_context(app):
        orgs, members = OrgRepository(infra.db), MembershipRepository(infra.db)
        # As if the process had died right after storing each change: nothing was published.
        assert await orgs.create(name="Acme", created_by="u1", org_id="acme")
        await members.set_role("acme", "u2", OrgRole.MEMBER)
        await members.set_role("acme", "u2", None)  # removed again, still unannounced

        def acme() -> list[Envelope]:
            return [e for e in org_events if e.subject in ("acme", "u2")]

        assert acme() == []

        async def announced() -> bool:
            return {e.type for e in acme()} == {"org.updated.v1", "org.member.updated.v1"}

        # The re-announcer waits out its grace (5 s) so as not to race a request still publishing.
        await _until(announced, timeout=15)
        member = next(e.payload() for e in acme() if e.type == "org.member.updated.v1")
        assert (member.user_id, member.role, member.revision) == ("u2", None, 2)  # the latest revision
        assert all(e.org_id == "acme" for e in acme())
        count = len(acme())
        await asyncio.sleep(0.6)  # a few more rounds: announced once, then nothing is owed
        assert len(acme()) == count
        assert await orgs.unannounced(before=_far_future()) == []
        assert await members.unannounced(before=_far_future()) == []


async def test_a_published_change_is_not_owed(api: Any, org_events: list[Envelope], infra: Any) -> None:
    owner = await api.user("olive")
    org = await api.create_org("Acme", owner[1])
    assert any(e.payload().org_id == org["org_id"] for e in org_events)
    assert await OrgRepository(infra.db).unannounced(before=_far_future()) == []
    assert await MembershipRepository(infra.db).unannounced(before=_far_future()) == []


def _far_future() -> datetime:
    return datetime(2999, 1, 1, tzinfo=UTC)
