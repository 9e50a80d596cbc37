"""Organizations through the SDK against a running ``ferry dev``: the active one on files calls, and the org API."""

from __future__ import annotations

import httpx

from ferry_core.orgs import ORG_HEADER
from ferry_sdk import FerryClient


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
    with FerryClient(ferry_url, org="an org") as scoped:
        scoped._tokens = client.tokens
        assert scoped._ws_target(None)[0].endswith("/ws?org=an%20org")
