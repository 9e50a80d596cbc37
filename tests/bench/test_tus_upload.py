"""Claim: a resumable (tus) upload keeps the gateway's memory bounded whatever the file size, at a bounded cost
over ``POST /files`` of the same bytes.

The four services run as separate processes, as in ``test_upload_memory.py``, and the parser is stopped once
they are up. A client sends generated CSV bodies of ~32 MiB and ~256 MiB (``FERRY_BENCH_TUS_MB`` sets the large
one, the small is an eighth of it) as the SDK does: ``POST /files/tus``, then PATCHes of 16 MiB from a generator
(the client holds one ~1 MiB block, never a chunk or the file), each with ``Upload-Checksum: sha256`` of its
chunk, digested just before it is sent (the digest is in the clock, as it is the SDK's cost too). While each
upload runs, the ingest process's ``VmRSS`` is sampled every 50 ms (and ``VmHWM`` reset and read); the peak
above the pre-upload baseline is the figure compared. Side by side, the same body goes by ``POST /files``
(streamed multipart): tus's throughput is reported as a ratio of that.

A last run sends the large body again with its connection dropped twice in mid-PATCH (the client's body
generator raises; a checksummed PATCH cut short keeps nothing, so HEAD names the chunk's start), resumed each
time from HEAD's offset.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ferry_core.events import new_id
from ferry_core.infra import mongo_client
from ferry_sdk import DEFAULT_CHUNK_SIZE
from ferry_testkit.servers import S3Server
from tests.bench.support import MIB, RssSampler, cpu_count, report, table
from tests.bench.uploads import Body, Run, login, upload_through_gateway
from tests.e2e import platform

LARGE = int(os.environ.get("FERRY_BENCH_TUS_MB", "256")) * MIB
SIZES = (LARGE // 8, LARGE)
CHUNK = DEFAULT_CHUNK_SIZE  # the SDK's PATCH size: 16 MiB, two of the gateway's 8 MiB parts
WARMUP = CHUNK + MIB  # two PATCHes, the first of whole parts: first-use costs land here
CUTS = (0.4, 0.7)  # where, as a share of the file, the client's connection drops
SLACK_MIB = 64.0
GROWTH_FACTOR = 3.0  # peak growth at 256 MiB < 3x the growth at 32 MiB + slack: not proportional to size (8x)
MIN_TUS_RATIO = 0.2  # tus MiB/s / POST /files MiB/s: a loose floor, the ratio itself is reported
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


class Cut(Exception):
    """The client drops its connection in the middle of a PATCH body, on purpose."""


@dataclass
class TusRun:
    """A tus upload as measured: the transfer (``run``), its PATCHes, its cuts and the client's digest time."""

    run: Run
    file_id: str
    patches: int = 0
    digest_seconds: float = 0.0
    resent: int = 0  # bytes sent in PATCHes that were cut, so sent again
    resumed_at: list[int] = field(default_factory=list)  # HEAD's offset after each cut


def chunk_checksum(body: Body, start: int, stop: int) -> str:
    """``Upload-Checksum`` of bytes ``start`` to ``stop``: the base64 of their sha256."""
    digest = hashlib.sha256()
    for piece in body.span(start, stop):
        digest.update(piece)
    return "sha256 " + base64.b64encode(digest.digest()).decode()


async def chunk_stream(body: Body, start: int, stop: int, cut_after: int | None) -> AsyncIterator[bytes]:
    """Bytes ``start`` to ``stop`` of ``body``; with ``cut_after``, only that many, then the connection drops."""
    sent = 0
    for piece in body.span(start, stop):
        if cut_after is not None and sent + len(piece) >= cut_after:
            yield piece[: cut_after - sent]
            raise Cut(f"dropped after {cut_after} of {stop - start} bytes")
        sent += len(piece)
        yield piece


async def settled_offset(client: httpx.AsyncClient, url: str, auth: dict[str, str], timeout: float = 30) -> int:
    """HEAD's offset once the cut PATCH has let go of the upload (until then a PATCH from it is 409)."""
    deadline = time.monotonic() + timeout
    while True:
        head = await client.head(url, headers={**auth, **TUS})
        assert head.status_code == 200, head.status_code
        offset = int(head.headers["upload-offset"])
        probe_headers = {**auth, **TUS, "Upload-Offset": str(offset), "Content-Type": OCTETS}
        probe = await client.patch(url, headers=probe_headers, content=b"")
        if probe.status_code == 204:
            return offset
        assert probe.status_code == 409, probe.text
        assert time.monotonic() < deadline, "the cut PATCH never let go of the upload"
        await asyncio.sleep(0.05)


async def upload_by_tus(
    client: httpx.AsyncClient,
    urls: platform.Urls,
    auth: dict[str, str],
    body: Body,
    ingest_pid: int,
    cuts: tuple[float, ...] = (),
) -> TusRun:
    """Create an upload and PATCH ``body`` in checksummed chunks (cut at ``cuts``, resumed), RSS sampled around."""
    size = body.size
    pending = sorted(int(size * share) for share in cuts)
    name = base64.b64encode(f"tus-{size}.csv".encode()).decode()
    kind = base64.b64encode(b"text/csv").decode()
    await asyncio.sleep(0.5)  # let the previous request's work settle before the baseline is read
    with RssSampler(ingest_pid, interval=0.05) as rss:
        started = time.perf_counter()
        created = await client.post(
            f"{urls.files}/files/tus",
            headers={**auth, **TUS, "Upload-Length": str(size), "Upload-Metadata": f"filename {name},filetype {kind}"},
        )
        assert created.status_code == 201, created.text
        url = f"{urls.files}{created.headers['location']}"
        result = TusRun(Run("tus", size, 0.0), file_id="")
        offset = 0
        while offset < size:
            stop = min(offset + CHUNK, size)
            digest_started = time.perf_counter()
            checksum = await asyncio.to_thread(chunk_checksum, body, offset, stop)
            result.digest_seconds += time.perf_counter() - digest_started
            cut_after = pending.pop(0) - offset if pending and offset < pending[0] < stop else None
            headers = {
                **auth,
                **TUS,
                "Upload-Offset": str(offset),
                "Upload-Checksum": checksum,
                "Content-Type": OCTETS,
                "Content-Length": str(stop - offset),
            }
            content = chunk_stream(body, offset, stop, cut_after)
            if cut_after is not None:
                with pytest.raises(Cut):
                    await client.patch(url, headers=headers, content=content)
                result.resent += cut_after
                result.resumed_at.append(await settled_offset(client, url, auth))
                offset = result.resumed_at[-1]
                continue
            response = await client.patch(url, headers=headers, content=content)
            assert response.status_code == 204, response.text
            assert int(response.headers["upload-offset"]) == stop, (response.headers, stop)
            result.patches += 1
            result.file_id = response.headers.get("ferry-file-id", "")
            offset = stop
        seconds = time.perf_counter() - started
    result.run = Run.sampled("tus", size, seconds, rss)
    assert result.file_id, "the last PATCH named no file (Ferry-File-Id)"
    return result


async def check_and_delete(
    client: httpx.AsyncClient, urls: platform.Urls, auth: dict[str, str], file_id: str, body: Body, sha256: str
) -> None:
    """The file's record says the bytes sent (size and sha256), queued for the stopped parser; then it goes."""
    url = f"{urls.files}/files/{file_id}"
    record: dict[str, Any] = (await client.get(url, headers=auth)).json()
    assert record["size"] == body.size, record
    assert record["sha256"] == sha256, "the stored bytes differ from the sent ones"
    assert record["status"] == "queued", record
    deleted = await client.delete(url, headers=auth)
    assert deleted.status_code == 204, deleted.text


async def test_tus_upload_memory_is_bounded_at_a_bounded_cost_over_post(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path: Path
) -> None:
    db_name = f"ferry_bench_{new_id()[:10]}"
    bucket = f"ferry-bench-{new_id()[:10]}"
    bodies = [Body.about(size) for size in SIZES]
    expected = {body.size: body.sha256() for body in bodies}  # computed before any clock starts

    with platform.distributed(
        amqp_url, mongo_url, s3_server.endpoint, s3_server.access_key, s3_server.secret_key, bucket, db_name, tmp_path
    ) as (urls, processes):
        processes["parser"].stop()  # parsing in the background would compete for the cores
        ingest = processes["ingest"]
        pid = ingest.process.pid
        posted: list[Run] = []
        resumable: list[TusRun] = []
        async with httpx.AsyncClient(timeout=httpx.Timeout(300)) as client:
            auth = await login(client, urls)
            # Warm-up of both paths: first-request costs (imports, connection pools) are not the file's.
            warm = Body.about(WARMUP)
            _, record = await upload_through_gateway(client, urls, auth, warm, pid)
            await check_and_delete(client, urls, auth, record["file_id"], warm, warm.sha256())
            warm_tus = await upload_by_tus(client, urls, auth, warm, pid)
            await check_and_delete(client, urls, auth, warm_tus.file_id, warm, warm.sha256())

            for body in bodies:
                run, record = await upload_through_gateway(client, urls, auth, body, pid)
                await check_and_delete(client, urls, auth, record["file_id"], body, expected[body.size])
                posted.append(run)
                sent = await upload_by_tus(client, urls, auth, body, pid)
                await check_and_delete(client, urls, auth, sent.file_id, body, expected[body.size])
                resumable.append(sent)

            large = bodies[-1]
            cut = await upload_by_tus(client, urls, auth, large, pid, cuts=CUTS)
            await check_and_delete(client, urls, auth, cut.file_id, large, expected[large.size])
        assert ingest.process.poll() is None, f"ingest died:\n{ingest.tail()}"
        ingest_log = ingest.log_path.read_text(errors="replace")

    mongo = mongo_client(mongo_url)
    await mongo.drop_database(db_name)
    await mongo.close()

    small_tus, large_tus = (sent.run for sent in resumable)
    limit = GROWTH_FACTOR * (small_tus.growth_mib or 0) + SLACK_MIB
    ratios = [sent.run.mib_s / post.mib_s for sent, post in zip(resumable, posted, strict=True)]
    cut_ratio = cut.run.mib_s / posted[-1].mib_s
    rows: list[tuple[object, ...]] = []
    for post, sent, ratio in zip(posted, resumable, ratios, strict=True):
        rows.append(_row("POST /files", post, "-", "1"))
        rows.append(_row("tus, 16 MiB PATCHes", sent.run, sent.patches, f"{ratio:.2f}"))
    cut_patches = f"{cut.patches} + {len(cut.resumed_at)} cut"
    rows.append(_row("tus, cut twice, resumed", cut.run, cut_patches, f"{cut_ratio:.2f}"))
    chunk_starts = [int(large.size * share) // CHUNK * CHUNK for share in CUTS]
    report(
        table(
            "Resumable upload (tus): gateway memory, and throughput beside POST /files of the same bytes",
            ["path", "MiB", "seconds", "MiB/s", "PATCHes", "RSS before MiB", "peak growth MiB", "(sampled)", "x POST"],
            rows,
            notes=[
                f"claim: tus growth at {large_tus.size / MIB:.0f} MiB ({large_tus.growth_mib:.1f}) < "
                f"{GROWTH_FACTOR:.0f} x growth at {small_tus.size / MIB:.0f} MiB + {SLACK_MIB:.0f} = {limit:.1f} MiB",
                f"tus MiB/s / POST /files MiB/s: {' and '.join(f'{r:.2f}' for r in ratios)} (floor {MIN_TUS_RATIO}, "
                "loose); tus times include creation, the client's chunk digests "
                f"({' and '.join(f'{s.digest_seconds:.2f}s' for s in resumable)}) and the gateway's read-back "
                "of the whole blob for its sha256 when the last byte is in",
                f"cut run: connection dropped at {' and '.join(f'{int(large.size * s) / MIB:.0f}' for s in CUTS)} MiB, "
                f"HEAD said {' and '.join(f'{o / MIB:.0f}' for o in cut.resumed_at)} MiB (the cut chunks' starts), "
                f"{cut.resent / MIB:.0f} MiB sent twice; x POST of the large file",
                f"ingest RSS: baseline before each upload, sampled every 50 ms ({large_tus.samples} samples in the "
                "large tus run)"
                + (" and the kernel's VmHWM (reset before each upload)" if large_tus.kernel_peak else "")
                + f"; the parser is stopped; {cpu_count()} cores, moto's S3 server, the test MongoDB-wire server",
            ],
        )
    )
    assert cut.resumed_at == chunk_starts, "a checksummed PATCH cut short must keep nothing of its chunk"
    for run in (large_tus, cut.run):
        assert (run.growth_mib or 0) < limit, f"gateway memory grows with file size:\n{ingest_log[-3000:]}"
    assert min([*ratios, cut_ratio]) > MIN_TUS_RATIO, (ratios, cut_ratio)


def _row(path: str, run: Run, patches: object, ratio: str) -> tuple[object, ...]:
    return (
        path,
        run.size / MIB,
        run.seconds,
        run.mib_s,
        patches,
        run.baseline_mib,
        run.growth_mib,
        run.sampled_growth_mib,
        ratio,
    )
