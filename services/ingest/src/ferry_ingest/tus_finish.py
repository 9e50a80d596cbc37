"""A resumable upload's last byte arrived: make it a file, exactly as ``POST /files`` does, and only once.

The multipart upload completes into the file's key (the upload id), the blob is
read back for its sha256 and its first bytes (sniffed: an unsupported format is
415 and the upload is removed), and the file record is written ``queued`` with
its ``file.uploaded.v1`` outbox entry through the same ``FilesRepository`` calls.
Each step can run again after a crash: completing an already completed upload
is checked against the blob, the record's id is the upload id (inserted once),
and ``mark_queued`` moves only an ``uploading`` record.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import timedelta
from typing import Any

from pymongo.errors import DuplicateKeyError

from ferry_core.events import utcnow
from ferry_ingest.errors import UnsupportedFormat
from ferry_ingest.sniff import SNIFF_BYTES, detect
from ferry_ingest.tus_uploads import Lease, TusUploadsRepository, parts_of
from ferry_ingest.uploads import UPLOADS, UploadContext, queue_file

Doc = dict[str, Any]


class TusFinisher:
    def __init__(self, repo: TusUploadsRepository, ctx: UploadContext, expiry: timedelta) -> None:
        self.repo = repo
        self.ctx = ctx
        self.expiry = expiry

    async def finish(self, upload: Doc, lease: Lease) -> Doc:
        """Complete ``upload`` (state ``completing``) into its file; the upload record afterwards, ``done``.

        ``upload["queued"]`` is the file record when this call queued it (None when an earlier one did).
        """
        upload_id = str(upload["_id"])
        blobs = self.ctx.blobs
        try:
            parts = [(part.number, part.etag) for part in parts_of(upload)]
            await blobs.complete_multipart(upload_id, str(upload["multipart_id"]), parts)
        except Exception:
            if not await blobs.exists(upload_id):  # else an earlier request completed it and then stopped
                raise
        sha256, head = await self._digest(upload_id, lease)
        detected = detect(head, str(upload["filename"]))
        if not detected.parseable:
            UPLOADS.labels("rejected").inc()
            await blobs.delete(upload_id)
            await self.repo.delete(upload_id)
            raise UnsupportedFormat(f"unsupported file type: detected {detected.format} ({detected.content_type})")
        files = self.ctx.repo
        with contextlib.suppress(DuplicateKeyError):  # made by an earlier attempt that stopped before queueing
            await files.create_uploading(
                upload_id,
                str(upload["owner_id"]),
                str(upload["filename"]),
                detected.content_type,
                detected.format,
                upload.get("project_id"),
                upload.get("batch_id"),
                str(upload["org_id"]),
            )
        size = int(upload["length"])
        queued = await queue_file(  # None: an earlier attempt queued it
            self.ctx,
            upload_id,
            str(upload["owner_id"]),
            str(upload["filename"]),
            detected,
            size,
            sha256,
            upload.get("project_id"),
            upload.get("batch_id"),
            bool(upload["analyze"]),
            str(upload["org_id"]),
        )
        expires_at = utcnow() + self.expiry
        await self.repo.mark_done(upload_id, upload_id, size, expires_at)
        upload.update(state="done", file_id=upload_id, offset=size, expires_at=expires_at, queued=queued)
        return upload

    async def _digest(self, key: str, lease: Lease) -> tuple[str, bytes]:
        """The blob's sha256 and its first ``SNIFF_BYTES``, read back (the lease is kept while a large one streams)."""
        digest = hashlib.sha256()
        head = bytearray()
        async for chunk in self.ctx.blobs.get(key):
            digest.update(chunk)
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            await lease.keep()
        return digest.hexdigest(), bytes(head)
