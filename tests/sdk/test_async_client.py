"""``AsyncFerryClient`` against a running ``ferry dev``: concurrent uploads, live watching, shared refresh."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import pytest

from ferry_sdk import AsyncFerryClient, FileStatus, Message, NotFound, PagesContent, TableContent, Tokens

from .conftest import ACCESS_TOKEN_TTL


async def _follow(client: AsyncFerryClient, file_id: str) -> list[Message]:
    return [message async for message in client.watch(file_id)]


async def test_concurrent_uploads_watched_to_parsed(aclient: AsyncFerryClient, csv_file: Path, pdf_file: Path) -> None:
    sent: dict[str, int] = {}
    records = await asyncio.gather(
        aclient.upload(csv_file, on_progress=lambda done, _: sent.__setitem__("csv", done)),
        aclient.upload(pdf_file, on_progress=lambda done, _: sent.__setitem__("pdf", done)),
    )
    assert sent == {"csv": records[0].size, "pdf": records[1].size} and records[1].size > 2000
    async with asyncio.timeout(60):
        watched = await asyncio.gather(*(_follow(aclient, r.file_id) for r in records))
    for record, messages in zip(records, watched, strict=True):
        assert messages[0].type == "status_update" and messages[0].subject == record.file_id
        last = messages[-1].progress
        assert last is not None and last.status == FileStatus.PARSED

    table, pages = await asyncio.gather(*(aclient.content(r.file_id, limit=3) for r in records))
    assert isinstance(table, TableContent) and table.total == 250 and len(table.rows) == 3
    assert isinstance(pages, PagesContent) and pages.total == 3

    out = io.BytesIO()
    await aclient.export(records[0].file_id, out, format="json")
    assert len(json.loads(out.getvalue())) == 250
    listed = await aclient.list_files(sort="filename")
    assert [item.filename for item in listed.items] == ["document.pdf", "people.csv"]

    for record in records:
        await aclient.delete(record.file_id)
    with pytest.raises(NotFound):
        await aclient.progress(records[0].file_id)


async def test_watch_outlives_the_access_token(aclient: AsyncFerryClient, csv_file: Path) -> None:
    """The notifier closes a socket when its token expires (1008); the watch refreshes and reconnects."""
    assert aclient.tokens is not None
    first_token, first_expiry = aclient.tokens.access_token, aclient.tokens.expires_at or 0
    seen: list[Message] = []

    async def listen() -> None:
        async for message in aclient.watch():
            seen.append(message)
            progress = message.progress
            if progress is not None and progress.status == FileStatus.PARSED:
                return

    async with asyncio.timeout(ACCESS_TOKEN_TTL + 40):
        listener = asyncio.create_task(listen())
        await asyncio.sleep(max(0.0, first_expiry + 1.5 - time.time()))  # past the first token's expiry
        record = await aclient.upload(csv_file)
        await listener
    assert aclient.tokens.access_token != first_token
    assert any(m.subject == record.file_id and m.progress and m.progress.status == "parsed" for m in seen)


async def test_concurrent_calls_share_one_refresh(ferry_url: str, account: tuple[str, str]) -> None:
    """A refresh token works once (a reuse revokes its family), so a burst of 401s must refresh once."""
    async with AsyncFerryClient(ferry_url) as signed_in:
        pair = await signed_in.login(*account)
    refreshed: list[Tokens | None] = []
    stale = Tokens("expired-access-token", pair.refresh_token, time.time() + 3600, 3600)
    async with AsyncFerryClient(ferry_url, tokens=stale, on_tokens=refreshed.append) as client:
        users = await asyncio.gather(*(client.me() for _ in range(5)))
        assert {user.username for user in users} == {account[0]}
        assert (await client.stats()).total_files == 0
    assert len(refreshed) == 1
