"""tus 1.0 at /files/tus over a real uvicorn server, MongoDB-wire server and blob store (folder and S3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs import BlobNotFound, BlobStore
from ferry_core.blobs.fs import FsBlobStore
from ferry_core.blobs.s3 import S3BlobStore
from ferry_core.events import utcnow
from ferry_core.infra import Document
from ferry_ingest.tus_protocol import FILE_ID_HEADER, VERSION
from ferry_ingest.tus_uploads import COLLECTION
from ferry_testkit.servers import S3Server
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

from .tus_support import PART, Tus, checksum, csv_bytes, metadata, running

DATA = csv_bytes(2 * PART + 1234)  # two whole parts and a bit


@pytest_asyncio.fixture(params=["fs", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    store: BlobStore
    if request.param == "fs":
        store = FsBlobStore(tmp_path / "blobs")
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        bucket: str = request.getfixturevalue("s3_bucket")
        store = S3BlobStore(server.endpoint, server.access_key, server.secret_key, bucket)
    await store.start()
    yield store
    await store.close()


@pytest_asyncio.fixture
async def tus(
    mongo: AsyncMongoClient[Document],
    mongo_db: AsyncDatabase[Document],
    blobs: BlobStore,
    tokens: TokenFactory,
    tmp_path: Path,
) -> AsyncIterator[Tus]:
    async with running(mongo, mongo_db, blobs, tokens, tmp_path) as gateway:
        yield gateway


async def test_options_says_what_the_server_speaks(tus: Tus) -> None:
    response = await tus.http.options(f"{tus.url}/files/tus", headers=tus.auth())
    assert response.status_code == 204
    assert response.headers["tus-version"] == VERSION == response.headers["tus-resumable"]
    assert set(response.headers["tus-extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "checksum",
        "expiration",
    }
    assert response.headers["tus-max-size"] == str(64 * 1024 * 1024)
    assert response.headers["tus-checksum-algorithm"] == "sha256"
    anonymous = await tus.http.options(f"{tus.url}/files/tus")
    assert anonymous.status_code == 401 and anonymous.headers["tus-resumable"] == VERSION


async def test_an_upload_in_patches_becomes_a_file_once(tus: Tus) -> None:
    upload_id = await tus.create(len(DATA), name="report.csv")
    head = await tus.head(upload_id)
    assert head.status_code == 200 and head.headers["upload-offset"] == "0"
    assert head.headers["upload-length"] == str(len(DATA)) and head.headers["cache-control"] == "no-store"
    assert head.headers["upload-metadata"] == metadata(filename="report.csv") and "upload-expires" in head.headers

    offset = 0
    for size in (PART - 10, PART + 20, len(DATA)):  # not on part boundaries: tails carried from one PATCH to the next
        chunk = DATA[offset : offset + size]
        response = await tus.patch(upload_id, offset, chunk)
        assert response.status_code == 204, response.text
        offset += len(chunk)
        assert response.headers["upload-offset"] == str(offset) == str(await tus.offset(upload_id))
    assert response.headers[FILE_ID_HEADER] == upload_id  # the upload id is the file's

    record = await tus.http.get(f"{tus.url}/files/{upload_id}", headers=tus.auth())
    assert record.status_code == 200
    assert record.json()["filename"] == "report.csv" and record.json()["size"] == len(DATA)
    assert record.json()["status"] == "queued"
    assert await tus.download(upload_id) == DATA
    await eventually(lambda: len(tus.uploaded(upload_id)) == 1)

    # A retried final PATCH (its answer was lost) answers the same, and makes no second file.
    again = await tus.patch(upload_id, offset - len(chunk), chunk)
    assert again.status_code == 204 and again.headers["upload-offset"] == str(len(DATA))
    assert again.headers[FILE_ID_HEADER] == upload_id
    await asyncio.sleep(0.3)  # the relay polls every 0.1 s: a second event would be out by now
    assert len(tus.uploaded(upload_id)) == 1
    assert await tus.app.state.infra.db["files"].count_documents({"owner_id": "alice"}) == 1
    assert (await tus.head(upload_id)).headers["upload-offset"] == str(len(DATA))


async def test_creation_with_upload(tus: Tus) -> None:
    small = b"a,b\n1,x\n2,y\n"
    headers = {
        **tus.auth(),
        "Upload-Length": str(len(small)),
        "Upload-Metadata": metadata(filename="small.csv", analyze="true"),
        "Content-Type": "application/offset+octet-stream",
        "Upload-Checksum": checksum(small),
    }
    response = await tus.http.post(f"{tus.url}/files/tus", headers=headers, content=small)
    assert response.status_code == 201, response.text
    assert response.headers["upload-offset"] == str(len(small))
    file_id = response.headers[FILE_ID_HEADER]
    assert response.headers["location"] == f"/files/tus/{file_id}"
    assert await tus.download(file_id) == small
    doc = await tus.app.state.infra.db["files"].find_one({"_id": file_id})
    assert doc["analyze"] is True and doc["status"] == "queued"


async def test_protocol_refusals(tus: Tus) -> None:
    url = f"{tus.url}/files/tus"
    no_version = {k: v for k, v in tus.auth().items() if k != "Tus-Resumable"}
    refused = await tus.http.post(url, headers={**no_version, "Upload-Length": "10"})
    assert refused.status_code == 412 and refused.headers["tus-version"] == VERSION
    old = await tus.http.post(url, headers={**tus.auth(), "Tus-Resumable": "0.2.2", "Upload-Length": "10"})
    assert old.status_code == 412
    assert (await tus.http.post(url, headers=tus.auth())).status_code == 400  # no Upload-Length
    assert (await tus.http.post(url, headers={**tus.auth(), "Upload-Length": "-1"})).status_code == 400
    assert (await tus.http.post(url, headers={**tus.auth(), "Upload-Length": "0"})).status_code == 422
    too_big = await tus.http.post(url, headers={**tus.auth(), "Upload-Length": str(64 * 1024 * 1024 + 1)})
    assert too_big.status_code == 413 and too_big.headers["tus-resumable"] == VERSION
    bad_meta = await tus.http.post(url, headers={**tus.auth(), "Upload-Length": "9", "Upload-Metadata": "a !!"})
    assert bad_meta.status_code == 400

    upload_id = await tus.create(len(DATA))
    assert (await tus.patch(upload_id, 5, b"abc")).status_code == 409  # not the upload's offset
    wrong_type = await tus.patch(upload_id, 0, b"abc", **{"Content-Type": "application/octet-stream"})
    assert wrong_type.status_code == 415
    md5 = await tus.patch(upload_id, 0, b"abc", **{"Upload-Checksum": "md5 kAFQmDzST7DWlj99KOF/cg=="})
    assert md5.status_code == 400
    mismatch = await tus.patch(upload_id, 0, DATA[: PART + 7], **{"Upload-Checksum": checksum(b"other")})
    assert mismatch.status_code == 460 and mismatch.headers["tus-resumable"] == VERSION
    assert await tus.offset(upload_id) == 0  # nothing of it kept, not even its whole part
    past = await tus.patch(upload_id, 0, DATA + b"x")
    assert past.status_code == 413 and await tus.offset(upload_id) == 0

    matched = await tus.patch(upload_id, 0, DATA[:100], **{"Upload-Checksum": checksum(DATA[:100])})
    assert matched.status_code == 204 and await tus.offset(upload_id) == 100


async def test_another_users_unknown_and_expired_uploads_are_not_found(tus: Tus) -> None:
    upload_id = await tus.create(len(DATA))
    assert (await tus.head(upload_id, user="bob")).status_code == 404
    assert (await tus.patch(upload_id, 0, b"a,b\n", user="bob")).status_code == 404
    url = f"{tus.url}/files/tus/{upload_id}"
    assert (await tus.http.delete(url, headers=tus.auth("bob"))).status_code == 404
    unknown = await tus.head("0" * 32)
    assert unknown.status_code == 404 and unknown.headers["tus-resumable"] == VERSION
    assert await tus.offset(upload_id) == 0  # bob changed nothing

    db = tus.app.state.infra.db
    await db[COLLECTION].update_one({"_id": upload_id}, {"$set": {"expires_at": _past()}})
    assert (await tus.head(upload_id)).status_code == 404
    assert (await tus.patch(upload_id, 0, b"a,b\n")).status_code == 404


async def test_delete_removes_parts_and_record(tus: Tus) -> None:
    upload_id = await tus.create(len(DATA))
    assert (await tus.patch(upload_id, 0, DATA[: PART + 10])).status_code == 204
    record = await tus.app.state.infra.db[COLLECTION].find_one({"_id": upload_id})
    assert len(record["parts"]) == 1 and record["tail_size"] == 10
    deleted = await tus.http.delete(f"{tus.url}/files/tus/{upload_id}", headers=tus.auth())
    assert deleted.status_code == 204 and deleted.headers["tus-resumable"] == VERSION
    assert (await tus.head(upload_id)).status_code == 404
    assert not await tus.store.blobs.exists(record["tail_key"])
    with pytest.raises(BlobNotFound):  # its multipart upload was aborted
        await tus.store.blobs.put_part(upload_id, record["multipart_id"], 2, b"x")


async def test_a_second_writer_is_refused_until_the_first_ones_lease_runs_out(tus: Tus) -> None:
    upload_id = await tus.create(len(DATA))
    taken = await tus.store.repo.acquire(upload_id, 0, tus.store.lease)  # as if a PATCH were writing right now
    assert taken is not None
    busy = await tus.patch(upload_id, 0, b"a,b\n")
    assert busy.status_code == 409 and "writing" in busy.json()["detail"]
    assert (await tus.http.delete(f"{tus.url}/files/tus/{upload_id}", headers=tus.auth())).status_code == 409

    db = tus.app.state.infra.db  # that writer's gateway died: its lease runs out
    await db[COLLECTION].update_one({"_id": upload_id}, {"$set": {"lease.until": _past()}})
    assert (await tus.patch(upload_id, 0, b"a,b\n")).status_code == 204
    assert not await tus.store.repo.commit(  # the old writer, back, can change nothing any more
        upload_id, taken[1], parts=[], tail_key=None, tail_size=0, expires_at=taken[0]["expires_at"]
    )


async def test_an_unsupported_format_is_refused_and_removed(tus: Tus) -> None:
    binary = b"\x7fELF" + bytes(range(256)) * 100
    upload_id = await tus.create(len(binary), name="program")
    refused = await tus.patch(upload_id, 0, binary)
    assert refused.status_code == 415, refused.text
    assert (await tus.head(upload_id)).status_code == 404
    assert not await tus.store.blobs.exists(upload_id)
    assert await tus.app.state.infra.db["files"].count_documents({}) == 0


def _past() -> datetime:
    return utcnow() - timedelta(seconds=1)
