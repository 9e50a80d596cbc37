"""Organizations through the SDK against a running ``ferry dev``: the active one on files calls, and the org API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ferry_core.orgs import ORG_HEADER
from ferry_sdk import (
    AsyncFerryClient,
    FerryClient,
    FerryError,
    Forbidden,
    NotFound,
    OrgQuotas,
    OrgRole,
    PayloadTooLarge,
    Unprocessable,
)
from tests.e2e.platform import ADMIN_PASSWORD, ADMIN_USERNAME

from .conftest import new_user


class HeaderRecorder(httpx.HTTPTransport):
    """The real transport, noting (path, X-Ferry-Org header) of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str | None]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.url.path, request.headers.get(ORG_HEADER)))
        return super().handle_request(request)


def test_the_active_org_goes_with_files_calls_only(ferry_url: str, account: tuple[str, str]) -> None:
    recorder = HeaderRecorder()
    with FerryClient(ferry_url, transport=recorder) as client:
        client.login(*account)
        me = client.me()
        client.list_files()
        client.org = me.id  # the personal organization, named explicitly
        client.list_files()
        client.stats()
        client.me()
        client.org = None
        client.list_projects()
    assert recorder.seen == [
        ("/auth/login", None),
        ("/users/me", None),
        ("/files", None),
        ("/files", me.id),
        ("/files/stats", me.id),
        ("/users/me", None),
        ("/projects", None),
    ]
    with FerryClient(ferry_url, org="an org", tokens=client.tokens) as scoped:
        assert scoped._ws_target(None).uri.endswith("/ws?org=an%20org")  # the socket's URL (watched for real below)


def poll(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.1)


def refused(call: Callable[[], object], error: type[FerryError]) -> bool:
    try:
        call()
    except error:
        return True
    return False


def test_an_organization_from_founding_to_deletion(ferry_url: str, client: FerryClient, csv_file: Path) -> None:
    me = client.me()
    (personal,) = client.list_orgs().items
    assert (personal.org_id, personal.personal, personal.role) == (me.id, True, OrgRole.OWNER)

    org = client.create_org("  Acme  ")
    assert (org.name, org.role, org.members, org.personal) == ("Acme", OrgRole.OWNER, 1, False)
    assert org.quotas == OrgQuotas() and org.usage.files == 0
    invitation = client.invite(org.org_id, OrgRole.VIEWER, email="someone@example.com")
    assert invitation.role == OrgRole.VIEWER and invitation.token
    assert [i.invitation_id for i in client.list_invitations(org.org_id)] == [invitation.invitation_id]

    with new_user(ferry_url) as viewer, new_user(ferry_url) as outsider:
        joined = viewer.accept_invitation(invitation.token)
        viewer_id = joined.user_id
        assert (joined.org_id, joined.role) == (org.org_id, OrgRole.VIEWER)
        assert {m.user_id: m.role for m in client.list_members(org.org_id)} == {
            me.id: OrgRole.OWNER,
            viewer_id: OrgRole.VIEWER,
        }

        client.org = org.org_id
        record = client.upload(csv_file)
        client.org = None
        assert client.list_files().total == 0  # the personal organization, by default
        assert client.get(record.file_id).file_id == record.file_id  # a file by id, whatever the active one

        viewer.org = org.org_id
        assert [f.file_id for f in viewer.list_files().items] == [record.file_id]
        with pytest.raises(Forbidden):
            viewer.upload(csv_file)
        assert client.set_member_role(org.org_id, viewer_id, OrgRole.MEMBER).role == OrgRole.MEMBER
        poll(lambda: not refused(lambda: viewer.upload(csv_file), Forbidden), "allowed to upload as a member")

        outsider.org = org.org_id
        with pytest.raises(NotFound):
            outsider.list_files()
        with pytest.raises(NotFound):
            outsider.get_org(org.org_id)
        with pytest.raises(NotFound):
            outsider.get(record.file_id)

        client.remove_member(org.org_id, viewer_id)
        poll(lambda: refused(viewer.list_files, NotFound), "refused once removed")

    assert client.rename_org(org.org_id, "Acme Ltd").name == "Acme Ltd"
    spare = client.invite(org.org_id)
    client.revoke_invitation(org.org_id, spare.invitation_id)
    assert client.list_invitations(org.org_id) == []
    with pytest.raises(Forbidden):
        client.set_quotas(org.org_id, max_files=1)  # the platform admin's alone
    with pytest.raises(Unprocessable):
        client.create_org("")
    client.delete_org(org.org_id)
    with pytest.raises(NotFound):
        client.get_org(org.org_id)


def test_quotas_are_the_platform_admins(ferry_url: str, client: FerryClient, csv_file: Path) -> None:
    org = client.create_org("Limited")
    with FerryClient(ferry_url) as admin:
        admin.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        assert org.org_id in {o.org_id for o in admin.list_orgs(all=True, limit=200).items}
        limited = admin.set_quotas(org.org_id, max_files=1, uploads_per_minute=100)
    assert limited.quotas == OrgQuotas(max_files=1, uploads_per_minute=100)
    assert client.get_org(org.org_id).quotas == limited.quotas
    client.org = org.org_id
    client.upload(csv_file)
    poll(lambda: refused(lambda: client.upload(csv_file), PayloadTooLarge), "refused past the quota")


async def test_the_async_client_watches_its_active_org(
    ferry_url: str, account: tuple[str, str], aclient: AsyncFerryClient, csv_file: Path
) -> None:
    org = await aclient.create_org("Watched")  # the client renews its token, so the notifier knows the membership
    aclient.org = org.org_id
    heard: dict[str, str] = {}

    async def listen() -> None:
        async for message in aclient.watch():
            if (progress := message.progress) is not None:
                heard[progress.file_id] = progress.status

    async def parsed_and_heard(uploader: AsyncFerryClient) -> str | None:
        """Upload into the organization; the id once the watch heard it parsed (None if it never did)."""
        record = await uploader.upload(csv_file)
        deadline = time.monotonic() + 10
        while heard.get(record.file_id) != "parsed":
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)
        return record.file_id

    watcher = asyncio.create_task(listen())
    try:
        async with AsyncFerryClient(ferry_url, org=org.org_id) as uploader:
            await uploader.login(*account)
            # The socket may open after the first upload: upload until one is heard end to end.
            for _ in range(3):
                if await parsed_and_heard(uploader):
                    break
            else:
                crashed = watcher.exception() if watcher.done() else None
                pytest.fail(f"the watch of the organization heard none of its files parsed ({crashed!r}, {heard})")
            uploader.org = None
            personal = await uploader.upload(csv_file)
            await uploader.wait(personal.file_id)
            uploader.org = org.org_id
            assert await parsed_and_heard(uploader)
    finally:
        watcher.cancel()
    assert personal.file_id not in heard  # the personal organization's files are not this watch's
