"""Resumable uploads' bytes: PATCH bodies streamed into blob-store multipart parts, the rest kept as a tail blob.

Memory stays at about one part per request: the body fills a buffer of
``part_bytes``; each full buffer becomes the next part of the upload's multipart
upload. What does not fill a part when the request ends goes to a small blob of
its own (the tail; a new key per write, switched in the record only once written,
the old one deleted after) and is read back in front of the next PATCH's bytes, so
any replica continues from the record alone.

Without ``Upload-Checksum`` each part is recorded as soon as it is stored, and a
dropped connection keeps the parts and the tail of what arrived. With one, nothing
of the request is recorded until the digest matches: parts put meanwhile are
replaced by the next PATCH (a part number put again replaces the part).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import structlog

from ferry_core.blobs import MAX_PARTS, BlobStore
from ferry_core.events import new_id, utcnow
from ferry_core.tokens import Principal
from ferry_ingest.errors import BadUpload, Conflict, InvalidContent, NotFound, UploadTooLarge
from ferry_ingest.orgs import OrgStore
from ferry_ingest.orgscope import role_in
from ferry_ingest.tus_finish import TusFinisher
from ferry_ingest.tus_protocol import ChecksumMismatch, parse_bool
from ferry_ingest.tus_uploads import (
    COMPLETING,
    DONE,
    RECEIVING,
    Lease,
    LeaseLost,
    Part,
    TusUploadsRepository,
    is_expired,
    parts_of,
)
from ferry_ingest.uploads import UploadContext, checked_batch, checked_project, clean_filename

log = structlog.get_logger(__name__)
Doc = dict[str, Any]
UPLOAD_NOT_FOUND = "upload not found"


class BodyCut(Exception):
    """The request body stopped before its end: the client dropped the connection, or its stream broke."""


async def _guarded(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The body's chunks; whatever stops it early (``ClientDisconnect``, a transport error) becomes ``BodyCut``."""
    try:
        async for chunk in chunks:
            yield chunk
    except Exception as exc:
        raise BodyCut(str(exc) or type(exc).__name__) from exc


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class TusStore:
    def __init__(
        self,
        repo: TusUploadsRepository,
        ctx: UploadContext,
        orgs: OrgStore,
        *,
        part_bytes: int,
        expiry: timedelta,
        lease: timedelta,
    ) -> None:
        self.repo = repo
        self.ctx = ctx
        self.orgs = orgs
        self.part_bytes = part_bytes
        self.expiry = expiry
        self.lease = lease
        self.finisher = TusFinisher(repo, ctx, expiry)

    @property
    def blobs(self) -> BlobStore:
        return self.ctx.blobs

    async def create(self, principal: Principal, org_id: str, length: int, metadata: dict[str, str]) -> Doc:
        """A new upload of ``length`` bytes into ``org_id``, within the size limit and the organization's quotas."""
        if length == 0:
            raise InvalidContent("the file is empty (Upload-Length 0)")
        if length > self.ctx.max_bytes:
            raise UploadTooLarge(f"file exceeds the upload limit of {self.ctx.max_bytes} bytes")
        if -(-length // self.part_bytes) > MAX_PARTS:
            raise UploadTooLarge(f"file needs more than {MAX_PARTS} parts of {self.part_bytes} bytes")
        project_id = await checked_project(self.ctx, metadata.get("project_id"), org_id)
        batch_id = await checked_batch(self.ctx, metadata.get("batch_id"), org_id)
        if self.ctx.quotas is not None:
            allowance = await self.ctx.quotas.admit(org_id, length)
            if allowance is not None:
                allowance.check(length)
        upload_id = new_id()
        multipart_id = await self.blobs.start_multipart(upload_id, content_type="application/octet-stream")
        now = utcnow()
        doc: Doc = {
            "_id": upload_id,
            "owner_id": principal.user_id,
            "org_id": org_id,
            "length": length,
            "offset": 0,
            "metadata": metadata,
            "filename": clean_filename(metadata.get("filename")),
            "project_id": project_id,
            "batch_id": batch_id,
            "analyze": parse_bool(metadata.get("analyze")),
            "multipart_id": multipart_id,
            "parts": [],
            "tail_key": None,
            "tail_size": 0,
            "state": RECEIVING,
            "lease": None,
            "created_at": now,
            "updated_at": now,
            "expires_at": now + self.expiry,
        }
        await self.repo.insert(doc)
        log.info("tus upload created", upload_id=upload_id, length=length)
        return doc

    async def owned(self, upload_id: str, principal: Principal) -> Doc:
        """The caller's own live upload, in an organization they may still upload to; anything else is a 404."""
        doc = await self.repo.get(upload_id)
        if doc is None or doc["owner_id"] != principal.user_id or is_expired(doc):
            raise NotFound(UPLOAD_NOT_FOUND)
        role = await role_in(self.orgs, principal, str(doc["org_id"]))
        if role is None or not role.can_write:
            raise NotFound(UPLOAD_NOT_FOUND)
        return doc

    async def write(self, doc: Doc, offset: int, body: AsyncIterator[bytes], checksum: bytes | None) -> Doc:
        """Append a PATCH body at ``offset``; the record afterwards (``done`` with its ``file_id`` once complete)."""
        upload_id = str(doc["_id"])
        if doc["state"] == DONE:
            return doc  # a retried final PATCH: the file was made once, its answer is the same
        taken = await self.repo.acquire(upload_id, offset, self.lease)
        if taken is None:
            current = await self.repo.get(upload_id)
            if current is None:
                raise NotFound(UPLOAD_NOT_FOUND)
            if current["state"] == DONE:
                return current
            if current["offset"] != offset:
                raise Conflict(f"Upload-Offset {offset} does not match the upload's offset {current['offset']}")
            raise Conflict("another request is writing this upload; retry once it has finished")
        doc, token = taken
        lease = Lease(self.repo, upload_id, token, self.lease)
        try:
            if doc["state"] == RECEIVING:
                doc = await self._receive(doc, lease, body, checksum)
            if doc["state"] == COMPLETING:
                doc = await self.finisher.finish(doc, lease)
            return doc
        except LeaseLost:
            raise Conflict("another request took this upload over; ask for its offset and continue") from None
        except BodyCut:
            raise BadUpload("the body stopped before its end; ask for the offset (HEAD) and continue") from None
        finally:
            await lease.release()

    async def _receive(self, doc: Doc, lease: Lease, body: AsyncIterator[bytes], checksum: bytes | None) -> Doc:
        upload_id, multipart_id = str(doc["_id"]), str(doc["multipart_id"])
        before = parts_of(doc)
        old_tail: str | None = doc.get("tail_key")
        recorded_tail = old_tail
        parts = list(before)
        pending: list[Part] = []  # stored in this request, recorded only once the checksum matched
        buffer = bytearray(await self._read(old_tail) if old_tail else b"")
        if len(buffer) != doc["tail_size"]:
            raise RuntimeError(f"tail of upload {upload_id} holds {len(buffer)} bytes, not {doc['tail_size']}")
        digest = hashlib.sha256() if checksum is not None else None
        start, length, received = int(doc["offset"]), int(doc["length"]), 0

        async def commit(tail_key: str | None, tail_size: int, state: str = RECEIVING) -> None:
            nonlocal recorded_tail
            expires_at = utcnow() + self.expiry
            if not await self.repo.commit(
                upload_id,
                lease.token,
                parts=parts,
                tail_key=tail_key,
                tail_size=tail_size,
                expires_at=expires_at,
                state=state,
            ):
                raise LeaseLost(upload_id)
            recorded_tail = tail_key
            offset = sum(part.size for part in parts) + tail_size
            doc.update(parts=[p.as_doc() for p in parts], tail_key=tail_key, tail_size=tail_size, offset=offset)
            doc.update(state=state, expires_at=expires_at)

        async def keep_tail() -> None:
            """Record the parts so far and the buffer as the upload's new tail (or none, when empty).

            Always a commit: a checksummed request's parts are recorded only here, even when they
            end exactly on a part boundary and leave no tail.
            """
            key = f"{upload_id}.tail-{secrets.token_hex(6)}" if buffer else None
            if key is not None:
                await self.blobs.put(key, _one(bytes(buffer)), content_type="application/octet-stream")
            try:
                await commit(key, len(buffer))
            except BaseException:
                if key is not None:
                    await self.blobs.delete(key)
                raise

        try:
            try:
                async for chunk in _guarded(body):
                    if start + received + len(chunk) > length:
                        raise UploadTooLarge(f"the body goes past Upload-Length ({length} bytes)")
                    received += len(chunk)
                    if digest is not None:
                        digest.update(chunk)
                    buffer += chunk
                    while len(buffer) >= self.part_bytes:
                        number = len(parts) + len(pending) + 1
                        data = bytes(buffer[: self.part_bytes])
                        del buffer[: self.part_bytes]
                        pending.append(await self._put(upload_id, multipart_id, number, data))
                        if digest is None:  # recorded at once, so a cut keeps it (the old tail's bytes are in it)
                            parts.extend(pending)
                            pending.clear()
                            await commit(None, 0)
                    await lease.keep()
            except BodyCut as cut:
                if digest is None and received:
                    await keep_tail()  # whole parts are recorded already; the rest of what arrived is the tail
                log.info("tus body cut", upload_id=upload_id, received=received, kept=digest is None, reason=str(cut))
                raise
            if digest is not None and digest.digest() != checksum:
                raise ChecksumMismatch("the body does not match its Upload-Checksum; nothing of it was kept")
            parts.extend(pending)
            if start + received < length:
                if received:
                    await keep_tail()
                return doc
            if buffer:  # the last part may be smaller than the others
                number = len(parts) + 1
                parts.append(await self._put(upload_id, multipart_id, number, bytes(buffer)))
            await commit(None, 0, state=COMPLETING)
            return doc
        except (UploadTooLarge, ChecksumMismatch):
            if recorded_tail != old_tail or parts != before:  # undo what this request recorded
                parts[:] = before
                await commit(old_tail, int(doc["tail_size"]))
            raise
        finally:
            if recorded_tail != old_tail and old_tail is not None:  # the record no longer names it
                await self.blobs.delete(old_tail)

    async def _put(self, upload_id: str, multipart_id: str, number: int, data: bytes) -> Part:
        return Part(number, await self.blobs.put_part(upload_id, multipart_id, number, data), len(data))

    async def _read(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.blobs.get(key)])

    async def discard(self, doc: Doc) -> None:
        """Remove an unfinished upload: its multipart upload, its tail and its record (DELETE, expiry)."""
        if doc["state"] != DONE:
            await self.blobs.abort_multipart(str(doc["_id"]), str(doc["multipart_id"]))
        if doc.get("tail_key"):
            await self.blobs.delete(str(doc["tail_key"]))
        await self.repo.delete(str(doc["_id"]))

    async def terminate(self, doc: Doc) -> None:
        """DELETE: the upload goes (409 while a PATCH writes it); a finished upload's file stays."""
        freed = await self.repo.delete_free(str(doc["_id"]))
        if freed is None:
            if await self.repo.get(str(doc["_id"])) is None:
                raise NotFound(UPLOAD_NOT_FOUND)
            raise Conflict("a request is writing this upload; retry once it has finished")
        await self.discard(freed)
