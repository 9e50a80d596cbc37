"""``FerryClient`` against a running ``ferry dev``: the journey, errors, refresh, API keys."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import httpx
import pytest

from ferry_sdk import (
    Conflict,
    FerryClient,
    FileStatus,
    NotFound,
    PagesContent,
    TableContent,
    Tokens,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
)

from .conftest import ACCESS_TOKEN_TTL


class Recorder(httpx.HTTPTransport):
    """The real transport, noting (method, path, status) of every exchange."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response


def test_upload_watch_read_export_delete(client: FerryClient, csv_file: Path, tmp_path: Path) -> None:
    sent: list[tuple[int, int]] = []
    record = client.upload(csv_file, on_progress=lambda done, total: sent.append((done, total)))
    size = csv_file.stat().st_size
    assert record.filename == "people.csv" and record.size == size
    assert sent[-1] == (size, size) and [d for d, _ in sent] == sorted(d for d, _ in sent)

    messages = list(client.watch(record.file_id))
    assert messages[0].type == "status_update"
    final = messages[-1].progress
    assert final is not None and final.status == FileStatus.PARSED

    # The notifier and the gateway each take file.parsed.v1 from their own queue: either may be first.
    detail = client.wait(record.file_id)
    assert detail.summary is not None and detail.summary.rows == 250
    page = client.content(record.file_id, offset=10, limit=5)
    assert isinstance(page, TableContent)
    assert page.columns == ["id", "name", "score"] and page.rows[0] == [11, "name 11", 16.5]

    out = tmp_path / "out.csv"
    assert client.export(record.file_id, out, format="csv") == out.stat().st_size
    assert len(list(csv.reader(out.open()))) == 251
    buffer = io.BytesIO()
    client.export(record.file_id, buffer, format="ndjson")
    assert json.loads(buffer.getvalue().splitlines()[-1]) == {"id": 250, "name": "name 250", "score": 375.0}
    original = io.BytesIO()
    client.download(record.file_id, original)
    assert original.getvalue() == csv_file.read_bytes()

    assert client.list_files(q="people").total == 1
    assert client.search("people").items[0].file_id == record.file_id
    assert client.stats().by_type == {"csv": 1}

    client.delete(record.file_id)
    with pytest.raises(NotFound) as missing:
        client.get(record.file_id)
    assert missing.value.status_code == 404 and missing.value.detail == "file not found"


def test_pdf_comes_back_as_pages(client: FerryClient, pdf_file: Path) -> None:
    record = client.upload(pdf_file)
    assert client.wait(record.file_id, timeout=60).status == FileStatus.PARSED
    page = client.content(record.file_id)
    assert isinstance(page, PagesContent)
    assert page.total == 3 and page.pages[0]["text"].startswith("Page 1")


def test_errors_are_typed_and_carry_the_detail(ferry_url: str, client: FerryClient, tmp_path: Path) -> None:
    with FerryClient(ferry_url, tokens=Tokens("not-a-token")) as stranger, pytest.raises(Unauthorized) as refused:
        stranger.list_files()
    assert refused.value.status_code == 401 and refused.value.detail

    with pytest.raises(NotFound):
        client.content("0" * 32)
    binary = tmp_path / "noise.bin"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(UnsupportedMediaType) as unsupported:
        client.upload(binary)
    assert "unsupported" in unsupported.value.detail
    me = client.me()
    with pytest.raises(Conflict) as taken:
        client.register(me.username, "other@example.com", "a long enough passphrase")
    assert taken.value.detail == "username already taken"
    with pytest.raises(Unprocessable):
        client.register("someone-new", "new@example.com", "short")


def test_expired_token_is_refreshed_on_401_and_the_call_retried(ferry_url: str, account: tuple[str, str]) -> None:
    with FerryClient(ferry_url) as first:
        first.login(*account)
        assert first.tokens is not None
        old = first.tokens
    # The client believes the token good for an hour: only the server's 401 can tell it otherwise.
    recorder, kept = Recorder(), []
    believed = Tokens(old.access_token, old.refresh_token, time.time() + 3600, 3600)
    with FerryClient(ferry_url, tokens=believed, transport=recorder, on_tokens=kept.append) as client:
        deadline = time.monotonic() + ACCESS_TOKEN_TTL + 10
        headers = {"Authorization": f"Bearer {old.access_token}"}
        while httpx.get(f"{ferry_url}/users/me", headers=headers).status_code != 401:
            assert time.monotonic() < deadline, "the access token never expired"
            time.sleep(0.25)
        assert client.me().username == account[0]
    assert recorder.seen == [("GET", "/users/me", 401), ("POST", "/auth/refresh", 200), ("GET", "/users/me", 200)]
    assert len(kept) == 1 and kept[0] is not None and kept[0].refresh_token != old.refresh_token


def test_token_near_expiry_is_refreshed_before_the_call(ferry_url: str, account: tuple[str, str]) -> None:
    recorder = Recorder()
    with FerryClient(ferry_url, transport=recorder) as client:
        client.login(*account)
        assert client.tokens is not None
        almost = Tokens(client.tokens.access_token, client.tokens.refresh_token, time.time() + 0.5, 6)
        client._set_tokens(almost)
        client.me()
    assert recorder.seen[1:] == [("POST", "/auth/refresh", 200), ("GET", "/users/me", 200)]


def test_logout_revokes_the_refresh_token(ferry_url: str, account: tuple[str, str]) -> None:
    with FerryClient(ferry_url) as client:
        client.login(*account)
        assert client.tokens is not None
        tokens = client.tokens
        client.logout()
        assert client.tokens is None
    with FerryClient(ferry_url, tokens=Tokens("expired", tokens.refresh_token)) as again, pytest.raises(Unauthorized):
        again.me()


def test_api_key_reaches_the_files_api_and_watches(ferry_url: str, client: FerryClient, csv_file: Path) -> None:
    key = client.create_api_key("sdk test")
    assert [k.id for k in client.list_api_keys()] == [key.id]
    with FerryClient(ferry_url, api_key=key.key) as scripted:
        deadline = time.monotonic() + 10
        while True:  # the gateway learns of the key through an event
            try:
                record = scripted.upload(csv_file)
                break
            except Unauthorized:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert scripted.wait(record.file_id).status == FileStatus.PARSED
        # A key watches too (the X-API-Key header on the handshake): the current state first, and the watch ends.
        seen = [message.type for message in scripted.watch(record.file_id)]
        assert seen and seen[0] == "status_update"
    client.revoke_api_key(key.id)
    assert client.list_api_keys() == []
    with FerryClient(ferry_url, api_key=key.key) as revoked:
        deadline = time.monotonic() + 10
        while True:  # the notifier's projection learns of the revocation through an event
            try:
                next(revoked.watch(record.file_id))
            except Unauthorized:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_an_upload_sent_twice_with_one_idempotency_key_is_stored_once(client: FerryClient, csv_file: Path) -> None:
    first = client.upload(csv_file, idempotency_key="nightly-2026-11-27")
    again = client.upload(csv_file, idempotency_key="nightly-2026-11-27")
    assert again.file_id == first.file_id
    assert client.upload(csv_file, idempotency_key="nightly-2026-11-28").file_id != first.file_id
