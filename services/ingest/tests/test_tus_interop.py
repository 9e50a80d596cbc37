"""Interoperability: tuspy (the tus project's Python client) uploads to the gateway over real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import io
from pathlib import Path

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from tusclient import client
from tusclient.uploader import Uploader

from ferry_core.blobs.fs import FsBlobStore
from ferry_core.infra import Document
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

from .tus_support import PART, csv_bytes, running

DATA = csv_bytes(2 * PART + PART // 3)


class Sha256Uploader(Uploader):
    """tuspy sends sha1 checksums by default; the server takes sha256 (tuspy's documented way to change it)."""

    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


async def test_tuspy_uploads_byte_identical_files(
    mongo: AsyncMongoClient[Document], mongo_db: AsyncDatabase[Document], tokens: TokenFactory, tmp_path: Path
) -> None:
    blobs = FsBlobStore(tmp_path / "blobs")
    await blobs.start()
    async with running(mongo, mongo_db, blobs, tokens, tmp_path) as tus:
        tus_client = client.TusClient(
            f"{tus.url}/files/tus", headers={"Authorization": f"Bearer {tokens.issue('alice', ttl=600)}"}
        )

        def upload(kind: type[Uploader], name: str, **options: object) -> str:
            uploader = kind(
                file_stream=io.BytesIO(DATA),
                client=tus_client,
                chunk_size=PART + 12345,  # not a multiple of the gateway's parts
                metadata={"filename": name, "filetype": "text/csv"},
                retries=0,
                **options,
            )
            uploader.upload()
            assert uploader.offset == len(DATA)
            url: str = uploader.url
            return url.rsplit("/", 1)[1]

        plain = await asyncio.to_thread(upload, Uploader, "plain.csv")
        checked = await asyncio.to_thread(upload, Sha256Uploader, "checked.csv", upload_checksum=True)
        for file_id, name in ((plain, "plain.csv"), (checked, "checked.csv")):
            assert await tus.download(file_id) == DATA
            record = await tus.http.get(f"{tus.url}/files/{file_id}", headers=tus.auth())
            assert record.json()["filename"] == name
            assert record.json()["sha256"] == hashlib.sha256(DATA).hexdigest()
            await eventually(lambda file_id=file_id: len(tus.uploaded(file_id)) == 1)  # type: ignore[misc]
