"""Resumable uploads (tus) through the SDK against a running ``ferry dev``: chunks, a cut connection,
a damaged chunk, and a second client resuming the first one's upload from the resume store.

The transports below are the real one with a hook: they note each exchange's offsets and bytes,
and cut or spoil one request's body on the wire, so the server sees what a broken network does.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ferry_sdk import (
    DEFAULT_CHUNK_SIZE,
    AsyncFerryClient,
    FerryClient,
    FileRecord,
    FileStatus,
    ResumeStore,
    TableContent,
)

MiB = 1024 * 1024
THRESHOLD = 1 * MiB
CHUNK = 2 * MiB
ROWS = 300_000


@dataclass
class Exchange:
    method: str
    path: str
    offset: int | None  # the request's Upload-Offset
    status: int = 0
    answered_offset: int | None = None
    sent: int = 0  # body bytes that went out


class Killed(BaseException):
    """The process dies mid-request (not an error any code catches)."""


@dataclass
class Wire(httpx.HTTPTransport):
    """The real transport; PATCH number ``cut`` (from 0) stops after ``cut_after`` bytes by raising ``fault``.

    ``spoil``: PATCH number ``spoil`` has its first byte changed on the way (its checksum no longer matches).
    """

    cut: int | None = None
    cut_after: int = MiB
    fault: BaseException = field(default_factory=lambda: httpx.WriteError("connection reset by the test"))
    spoil: int | None = None
    log: list[Exchange] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        offset = request.headers.get("upload-offset")
        exchange = Exchange(request.method, request.url.path, int(offset) if offset is not None else None)
        if exchange.path.startswith("/files"):  # not sign-in and refreshes
            self.log.append(exchange)
        if request.method == "PATCH":
            number = len(self.patches) - 1  # this one is in the log already
            limit = self.cut_after if number == self.cut else None
            request.stream = _Counted(request.stream, exchange, limit, self.fault, number == self.spoil)  # type: ignore[arg-type]
        response = super().handle_request(request)
        exchange.status = response.status_code
        answered = response.headers.get("upload-offset")
        exchange.answered_offset = int(answered) if answered is not None else None
        return response

    @property
    def patches(self) -> list[Exchange]:
        return [e for e in self.log if e.method == "PATCH"]


class _Counted(httpx.SyncByteStream):
    def __init__(
        self, inner: httpx.SyncByteStream, exchange: Exchange, limit: int | None, fault: BaseException, spoil: bool
    ) -> None:
        self.inner, self.exchange, self.limit, self.fault, self.spoil = inner, exchange, limit, fault, spoil

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.inner:
            if self.spoil and self.exchange.sent == 0 and piece:
                piece = bytes([piece[0] ^ 0xFF]) + piece[1:]
            if self.limit is not None and self.exchange.sent + len(piece) > self.limit:
                piece = piece[: self.limit - self.exchange.sent]
                self.exchange.sent += len(piece)
                yield piece
                raise self.fault
            self.exchange.sent += len(piece)
            yield piece


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 6.3 MiB of CSV: four chunks of 2 MiB, the last short."""
    path = tmp_path_factory.mktemp("resumable") / "big.csv"
    path.write_text("id,name,score\n" + "".join(f"{i},name {i},{i % 97}\n" for i in range(ROWS)))
    assert path.stat().st_size > 5 * MiB
    return path


def _client(
    ferry_url: str, account: tuple[str, str], wire: httpx.BaseTransport | None = None, **kw: object
) -> FerryClient:
    client = FerryClient(ferry_url, transport=wire, resumable_threshold=THRESHOLD, chunk_size=CHUNK, **kw)  # type: ignore[arg-type]
    client.login(*account)
    return client


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_large_file_goes_by_tus_in_checked_chunks_and_yields_the_usual_record(
    ferry_url: str, account: tuple[str, str], big_csv: Path
) -> None:
    wire = Wire()
    sent: list[int] = []
    with _client(ferry_url, account, wire) as client:
        record = client.upload(big_csv, on_progress=lambda done, _: sent.append(done), analyze=False)
        one_shot = client.upload(big_csv, resumable=False)

        size = big_csv.stat().st_size
        assert [(e.method, e.path) for e in wire.log[:2]] == [("POST", "/files/tus"), ("PATCH", wire.log[1].path)]
        assert wire.log[1].path == f"/files/tus/{record.file_id}"
        assert [(e.offset, e.status) for e in wire.patches] == [(at, 204) for at in range(0, size, CHUNK)]
        assert wire.patches[-1].answered_offset == size and sum(e.sent for e in wire.patches) == size
        assert sent == sorted(sent) and sent[-1] == size
        # The one-shot upload of the same file went as before: one POST /files.
        assert [(e.method, e.path) for e in wire.log[-2:]] == [("GET", f"/files/{record.file_id}"), ("POST", "/files")]

        assert isinstance(record, FileRecord) and record.status in (
            FileStatus.QUEUED,
            FileStatus.PARSING,
            FileStatus.PARSED,
        )
        same = ("filename", "content_type", "size", "sha256", "format", "owner_id", "org_id")
        assert {k: getattr(record, k) for k in same} == {k: getattr(one_shot, k) for k in same}
        assert record.sha256 == _sha256(big_csv) and record.size == size

        parsed = client.wait(record.file_id, timeout=120)
        assert parsed.status == FileStatus.PARSED and parsed.summary is not None and parsed.summary.rows == ROWS
        page = client.content(record.file_id, offset=ROWS - 1, limit=1)
        assert isinstance(page, TableContent) and page.rows == [[ROWS - 1, f"name {ROWS - 1}", (ROWS - 1) % 97]]


def test_a_cut_connection_resumes_from_the_servers_offset_not_from_zero(
    ferry_url: str, account: tuple[str, str], big_csv: Path
) -> None:
    cut = MiB + 12345
    wire = Wire(cut=1, cut_after=cut)  # the second PATCH dies a little past 1 MiB into its chunk
    with _client(ferry_url, account, wire) as client:
        record = client.upload(big_csv)

    size = big_csv.stat().st_size
    assert record.sha256 == _sha256(big_csv) and record.size == size
    cut_at = wire.log.index(wire.patches[1])
    assert wire.log[cut_at].status == 0 and wire.log[cut_at].sent == cut  # never answered
    # Then the client asked where the server stood, and went on from exactly there.
    head = wire.log[cut_at + 1]
    assert (head.method, head.status) == ("HEAD", 200)
    assert head.answered_offset is not None and CHUNK <= head.answered_offset <= CHUNK + cut
    after = [e for e in wire.patches if wire.log.index(e) > cut_at]
    assert after[0].offset == head.answered_offset
    assert all(e.offset is not None and e.offset >= CHUNK for e in after)
    # The chunks the server took follow one another from 0 to the end: nothing stored was sent twice.
    taken = [e for e in wire.patches if e.status == 204]
    assert taken[0].offset == 0 and taken[-1].answered_offset == size
    assert all(
        b.offset is not None and a.answered_offset is not None and b.offset >= a.answered_offset
        for a, b in itertools.pairwise(taken)
    )
    assert sum(e.sent for e in taken) <= size


def test_a_chunk_damaged_on_the_way_is_refused_and_sent_again(
    ferry_url: str, account: tuple[str, str], big_csv: Path
) -> None:
    wire = Wire(spoil=1)
    with _client(ferry_url, account, wire) as client:
        record = client.upload(big_csv)
        assert record.sha256 == _sha256(big_csv)
    statuses = [(e.method, e.offset, e.status) for e in wire.log if e.method in ("PATCH", "HEAD")]
    assert statuses[:4] == [("PATCH", 0, 204), ("PATCH", CHUNK, 460), ("HEAD", None, 200), ("PATCH", CHUNK, 204)]


def test_another_client_resumes_the_upload_from_the_resume_store(
    ferry_url: str, account: tuple[str, str], big_csv: Path, tmp_path: Path
) -> None:
    store_path = tmp_path / "uploads.json"
    first = Wire(cut=2, cut_after=MiB, fault=Killed())
    with _client(ferry_url, account, first, resume_store=store_path) as client, pytest.raises(Killed):
        client.upload(big_csv)
    entries = json.loads(store_path.read_text())
    assert len(entries) == 1
    upload_path = next(iter(entries.values()))["url"]
    assert upload_path.startswith("/files/tus/") and str(big_csv) not in store_path.read_text()

    # Another process: a new client with its own sign-in and only the store in common.
    second = Wire()
    with _client(ferry_url, account, second, resume_store=ResumeStore(store_path)) as other:
        record = other.upload(big_csv)
    assert record.file_id == upload_path.rsplit("/", 1)[1] and record.sha256 == _sha256(big_csv)
    assert [e.method for e in second.log].count("POST") == 0
    assert second.log[0].method == "HEAD" and second.log[0].path == upload_path
    assert second.patches[0].offset == second.log[0].answered_offset and second.patches[0].offset >= 2 * CHUNK
    assert json.loads(store_path.read_text()) == {}  # done: forgotten


def _raw(ferry_url: str, client: FerryClient, method: str, path: str) -> int:
    """A tus request outside the SDK (as another tool, or the sweeper, would touch the upload).

    409 is asked again for a while: the server may not yet have seen the killed PATCH's connection close.
    """
    assert client.tokens is not None
    headers = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {client.tokens.access_token}"}
    deadline = time.monotonic() + 10
    while (status := httpx.request(method, ferry_url + path, headers=headers).status_code) == 409:
        assert time.monotonic() < deadline, f"{method} {path} still 409"
        time.sleep(0.1)
    return status


def test_a_remembered_upload_the_server_no_longer_has_starts_over(
    ferry_url: str, account: tuple[str, str], big_csv: Path, tmp_path: Path
) -> None:
    store = ResumeStore(tmp_path / "uploads.json")
    with _client(ferry_url, account, Wire(cut=1, fault=Killed()), resume_store=store) as client:
        with pytest.raises(Killed):
            client.upload(big_csv)
        (remembered,) = (entry["url"] for entry in json.loads(store.path.read_text()).values())
        assert _raw(ferry_url, client, "DELETE", remembered) == 204  # gone, as an expired upload is

    wire = Wire()
    with _client(ferry_url, account, wire, resume_store=store) as client:
        record = client.upload(big_csv)
    assert [(e.method, e.path, e.status) for e in wire.log[:3]] == [
        ("HEAD", remembered, 404),
        ("GET", "/files/" + remembered.rsplit("/", 1)[1], 404),  # it had not become a file either
        ("POST", "/files/tus", 201),
    ]
    assert record.sha256 == _sha256(big_csv) and json.loads(store.path.read_text()) == {}


def test_abandon_upload_deletes_it_on_the_server(
    ferry_url: str, account: tuple[str, str], big_csv: Path, tmp_path: Path
) -> None:
    store = ResumeStore(tmp_path / "uploads.json")
    with _client(ferry_url, account, Wire(cut=1, fault=Killed()), resume_store=store) as client:
        with pytest.raises(Killed):
            client.upload(big_csv)
        (remembered,) = (entry["url"] for entry in json.loads(store.path.read_text()).values())
        assert _raw(ferry_url, client, "HEAD", remembered) == 200
        assert client.abandon_upload(big_csv) is True
        assert _raw(ferry_url, client, "HEAD", remembered) == 404
        assert client.abandon_upload(big_csv) is False


def test_default_chunks_of_whole_server_parts(ferry_url: str, account: tuple[str, str], tmp_path: Path) -> None:
    """16 MiB chunks (the default) are two of the server's 8 MiB parts each, with no bytes left over."""
    path = tmp_path / "aligned.txt"
    line = b"Ferry carries files across the water, chunk by chunk.\n"
    with path.open("wb") as out:
        for _ in range(33):
            out.write((line * (MiB // len(line) + 1))[:MiB])
    wire = Wire()
    with FerryClient(ferry_url, transport=wire, upload_retries=1) as client:
        client.login(*account)
        record = client.upload(path)
    assert [(e.offset, e.answered_offset) for e in wire.patches] == [
        (0, DEFAULT_CHUNK_SIZE),
        (DEFAULT_CHUNK_SIZE, 2 * DEFAULT_CHUNK_SIZE),
        (2 * DEFAULT_CHUNK_SIZE, 33 * MiB),
    ]
    assert record.size == 33 * MiB and record.sha256 == _sha256(path)


async def test_the_async_client_uploads_by_tus_too(ferry_url: str, account: tuple[str, str], big_csv: Path) -> None:
    seen: list[tuple[str, str]] = []

    class Noting(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append((request.method, request.headers.get("upload-offset", "")))
            return await super().handle_async_request(request)

    sent: list[int] = []
    async with AsyncFerryClient(
        ferry_url, transport=Noting(), resumable_threshold=THRESHOLD, chunk_size=CHUNK
    ) as client:
        await client.login(*account)
        record = await client.upload(big_csv, on_progress=lambda done, _: sent.append(done))
    assert record.sha256 == _sha256(big_csv) and sent[-1] == record.size and sent == sorted(sent)
    patches = [offset for method, offset in seen if method == "PATCH"]
    assert patches == [str(at) for at in range(0, record.size, CHUNK)]
