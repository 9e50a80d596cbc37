"""Resumable uploads over tus 1.0 (see docs/DECISIONS.md "Resumable uploads"), written once for both clients.

An upload is a generator of steps — a ``Call`` to send, a ``Pause`` to sleep, a
``Blocking`` function to run off the event loop — which the sync and the async
client each drive their own way: the answer (or the ``FerryError``) of each step
is sent back into the generator. So the protocol, the retries and the resume
store are here once, and each client keeps its own sending, refresh and org header.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import mimetypes
import os
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx

from ferry_sdk import _calls as calls
from ferry_sdk._calls import Call
from ferry_sdk._multipart import ProgressCallback
from ferry_sdk._region import FileRegion
from ferry_sdk.errors import FerryError, NotFound, TransportError, _RetryLater
from ferry_sdk.models import FileRecord
from ferry_sdk.resume import ResumeStore

T = TypeVar("T")

TUS_VERSION = "1.0.0"
TUS_PATH = "/files/tus"
MiB = 1024 * 1024
DEFAULT_RESUMABLE_THRESHOLD = 32 * MiB
DEFAULT_CHUNK_SIZE = 16 * MiB
DEFAULT_UPLOAD_RETRIES = 5
# Answers after which asking HEAD for the offset and going on may succeed: another PATCH still
# holding the upload (409, 423), a chunk damaged on the way (460), throttling, a server fault.
_RETRY_STATUSES = frozenset({409, 423, 429, 460})


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Blocking(Generic[T]):
    """Disk work (a chunk's digest, the resume store): the async client runs it in a thread."""

    run: Callable[[], T]


Step = Call[Any] | Pause | Blocking[Any]
Flow = Generator[Step, Any, T]


@dataclass(frozen=True)
class TusReply:
    """What a tus answer says in its headers."""

    offset: int | None
    length: int | None
    location: str | None
    file_id: str | None

    @classmethod
    def of(cls, response: httpx.Response) -> TusReply:
        headers = response.headers
        return cls(
            _int(headers.get("upload-offset")),
            _int(headers.get("upload-length")),
            headers.get("location"),
            headers.get("ferry-file-id"),
        )


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class TusPlan:
    """One resumable upload: the file, how it is described to the server, how it is sent."""

    path: Path
    size: int
    metadata: dict[str, str]
    chunk_size: int
    retries: int
    on_progress: ProgressCallback | None
    base_url: str
    store: ResumeStore | None = None
    key: str | None = None


def wants_tus(size: int, threshold: int, resumable: bool | None, idempotency_key: str | None) -> bool:
    """Whether ``upload()`` goes by tus: forced either way, else above the threshold (an idempotency key needs POST)."""
    if resumable and idempotency_key:
        raise ValueError("an idempotency key applies to a one-shot upload; a resumable upload resumes by itself")
    if resumable is not None:
        return resumable
    return idempotency_key is None and size > threshold


def metadata(
    path: Path,
    filename: str | None,
    content_type: str | None,
    project_id: str | None,
    batch_id: str | None,
    analyze: bool,
) -> dict[str, str]:
    """``Upload-Metadata`` pairs: the same options ``POST /files`` takes, under the names the contract gives."""
    name = filename or path.name
    kind = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    pairs = {"filename": name, "filetype": kind, "project_id": project_id, "batch_id": batch_id}
    if analyze:
        pairs["analyze"] = "true"
    return {key: value for key, value in pairs.items() if value}


def encode_metadata(pairs: dict[str, str]) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


def upload_path(location: str, base_url: str) -> str:
    """The upload's path under the client's URL, from a ``Location`` (absolute, or a path)."""
    if location.startswith(base_url + "/"):
        return location[len(base_url) :]
    if location.startswith("/"):
        return location
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def upload_id(path: str) -> str:
    """The file id an upload will have: its last path segment (the contract makes them one)."""
    return path.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


# -- the calls -----------------------------------------------------------------------


def _headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, **extra}


def create(plan: TusPlan) -> Call[TusReply]:
    headers = _headers(**{"Upload-Length": str(plan.size), "Upload-Metadata": encode_metadata(plan.metadata)})
    return Call("POST", TUS_PATH, TusReply.of, headers=headers)


def head(path: str) -> Call[TusReply]:
    return Call("HEAD", path, TusReply.of, headers=_headers())


def patch(path: str, region: FileRegion, checksum: str, on_progress: ProgressCallback | None) -> Call[TusReply]:
    headers = _headers(**{"Upload-Offset": str(region.offset), "Upload-Checksum": f"sha256 {checksum}"})
    return Call("PATCH", path, TusReply.of, headers=headers, upload=region, on_progress=on_progress)


def terminate(path: str) -> Call[None]:
    return Call("DELETE", path, lambda _: None, headers=_headers())


# -- the flow ------------------------------------------------------------------------


def retryable(exc: FerryError) -> bool:
    """Whether asking the offset and going on may cure it: no answer, or a passing refusal."""
    status = exc.status_code
    return isinstance(exc, TransportError) or status is None or status in _RETRY_STATUSES or status >= 500


def _wait(exc: FerryError | None, failures: int) -> float:
    """Seconds before asking again: what a 429/503 said, else 0.5 s doubling up to 8 s."""
    told = exc.retry_after if isinstance(exc, _RetryLater) else None
    return min(told, 30.0) if told is not None else float(min(0.5 * 2 ** (failures - 1), 8.0))


def _remember(plan: TusPlan, path: str | None) -> Flow[None]:
    if plan.store is None or plan.key is None:
        return
    store, key = plan.store, plan.key
    with contextlib.suppress(OSError):  # best effort: without the store, a later process starts over
        yield Blocking(functools.partial(store.put, key, path) if path else functools.partial(store.remove, key))


def _remembered(plan: TusPlan) -> Flow[str | None]:
    if plan.store is None or plan.key is None:
        return None
    known: str | None = yield Blocking(functools.partial(plan.store.get, plan.key))
    return known


def _completed(path: str) -> Flow[FileRecord | None]:
    """The file an upload became, when the server no longer knows the upload (its id is the file's)."""
    try:
        record: FileRecord = yield calls.get(upload_id(path))
    except NotFound:
        return None
    return record


def _open(plan: TusPlan) -> Flow[tuple[str, int] | FileRecord]:
    """The upload to continue — the remembered one where the server still has it — and its offset.

    A remembered upload the server no longer has may have completed (the process that sent
    it stopped before forgetting it): then its file is the answer.
    """
    known = yield from _remembered(plan)
    if known is not None:
        try:
            reply: TusReply = yield head(known)
        except FerryError as exc:
            if exc.status_code not in (403, 404, 410):
                raise
            reply = TusReply(None, None, None, None)
            done = yield from _completed(known)
            if done is not None:
                yield from _remember(plan, None)
                return done
        if reply.offset is not None and reply.length == plan.size:
            return known, reply.offset
        yield from _remember(plan, None)
    created: TusReply = yield create(plan)
    if created.location is None:
        raise FerryError("the server created the upload but did not say where (no Location header)")
    path = upload_path(created.location, plan.base_url)
    yield from _remember(plan, path)
    return path, created.offset or 0


def _send_all(plan: TusPlan, path: str, offset: int) -> Flow[str | None]:
    """PATCH chunk after chunk from ``offset``; after a passing failure, HEAD says where to go on.

    ``plan.retries`` failures in a row give up (a chunk that got further resets the count).
    Returns the file id the last PATCH named, if it did.
    """
    failures, file_id, known = 0, None, True
    if plan.on_progress and offset:
        plan.on_progress(offset, plan.size)
    while True:
        try:
            if not known:
                reply: TusReply = yield head(path)
                if reply.offset is None:
                    raise FerryError("the server's HEAD did not say the upload's offset")
                offset, known = reply.offset, True
            if offset >= plan.size:
                return file_id
            region = FileRegion(plan.path, offset, min(plan.chunk_size, plan.size - offset), plan.size)
            checksum: str = yield Blocking(region.sha256)
            reply = yield patch(path, region, checksum, plan.on_progress)
        except FerryError as exc:
            if not retryable(exc) or failures >= plan.retries:
                raise
            failures += 1
            known = False
            yield Pause(_wait(exc, failures))
            continue
        if reply.offset is None or (reply.offset <= offset and not reply.file_id):
            # Answered 204 but took nothing: never loop on it; count it, then ask where things stand.
            if failures >= plan.retries:
                raise FerryError(f"the server kept none of the chunk at {offset} after {failures + 1} tries")
            failures += 1
            known = False
            yield Pause(_wait(None, failures))
            continue
        failures = 0
        offset, file_id = reply.offset, reply.file_id or file_id


def upload_flow(plan: TusPlan) -> Flow[FileRecord]:
    """Create (or resume) the upload, send what the server lacks, then read the file's record."""
    restarted = False
    while True:
        opened = yield from _open(plan)
        if isinstance(opened, FileRecord):
            return opened
        path, offset = opened
        try:
            file_id = yield from _send_all(plan, path, offset)
        except NotFound:
            # The last chunk may have completed it before the answer was lost; else it expired
            # or was removed between two chunks: forget it, and begin once more from byte 0.
            done = yield from _completed(path)
            yield from _remember(plan, None)
            if done is not None:
                return done
            if restarted:
                raise
            restarted = True
            continue
        except FerryError as exc:
            if not retryable(exc):  # refused for good (too large, unsupported format): nothing to resume
                yield from _remember(plan, None)
            raise
        break
    yield from _remember(plan, None)
    record: FileRecord = yield calls.get(file_id or upload_id(path))
    return record


def abandon_flow(key: str, store: ResumeStore | None, retries: int) -> Flow[bool]:
    """Delete a remembered upload on the server (gone already is fine) and forget it.

    A PATCH the server still thinks is writing (one cut a moment ago) holds the upload: 409, wait, again.
    """
    if store is None:
        return False
    path: str | None = yield Blocking(functools.partial(store.get, key))
    if path is None:
        return False
    for failures in range(retries + 1):
        try:
            yield terminate(path)
        except NotFound:
            break
        except FerryError as exc:
            if exc.status_code not in (409, 423) or failures == retries:
                raise
            yield Pause(_wait(exc, failures + 1))
        else:
            break
    yield Blocking(functools.partial(store.remove, key))
    return True


def file_stat(path: str | os.PathLike[str]) -> tuple[Path, int, int]:
    """(absolute path, size, mtime in ns): what a fingerprint and a plan need of the file."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return resolved, stat.st_size, stat.st_mtime_ns
