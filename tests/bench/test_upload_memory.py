"""Claim: an upload is streamed to the blob store; the gateway's memory does not grow with file size.

The four services run as separate processes against RabbitMQ, the MongoDB-wire
server and the S3 server, as in ``tests/e2e``. A client uploads generated CSV
bodies of ~32 MiB and ~256 MiB, produced by a generator and sent as a
hand-built multipart body (the client holds one 1 MiB block, never the file).
While each upload runs, the ingest process's ``VmRSS`` is sampled every 50 ms
(and the kernel's ``VmHWM`` is reset and read, where allowed); the peak above
the pre-upload baseline is the figure compared.

Side by side, the same bytes from the same generator are PUT straight to the
S3 server with minio's streaming multipart upload (length -1, 8 MiB parts, one
part at a time as the gateway's blob store does): the gateway's throughput is
reported as a ratio of that raw S3 throughput.

The parser is stopped once the platform is up: parsing 256 MiB of CSV in the
background would compete for the same cores and is measured on its own in
``test_parse_throughput.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from minio import Minio

from ferry_core.events import new_id
from ferry_core.infra import mongo_client
from ferry_testkit.servers import S3Server
from tests.bench.support import MIB, cpu_count, report, table
from tests.bench.uploads import Body, Run, login, upload_through_gateway
from tests.e2e import platform

SIZES = (32 * MIB, 256 * MIB)
PART_SIZE = 8 * MIB  # the gateway's S3 part size (ferry_core.blobs.s3.PART_SIZE)
WARMUP = 2 * PART_SIZE + MIB  # a multipart upload too, so first-use costs land in the warm-up
SLACK_MIB = 64.0
GROWTH_FACTOR = 3.0  # peak growth at 256 MiB < 3x the growth at 32 MiB + slack: not proportional to size (8x)
MIN_THROUGHPUT_RATIO = 0.2  # gateway MiB/s / raw S3 MiB/s: a loose floor, the ratio itself is reported


class GeneratorReader:
    """A file-like ``read(size)`` over a generator of chunks, for minio's streaming upload."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        size = len(self._buffer) if size < 0 else min(size, len(self._buffer))
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data


def put_raw(s3: Minio, bucket: str, body: Body) -> Run:
    key = f"raw-{new_id()}"
    started = time.perf_counter()
    s3.put_object(
        bucket,
        key,
        GeneratorReader(body.chunks()),  # type: ignore[arg-type]
        -1,
        content_type="text/csv",
        part_size=PART_SIZE,
        num_parallel_uploads=1,
    )
    seconds = time.perf_counter() - started
    stored = s3.stat_object(bucket, key).size
    s3.remove_object(bucket, key)
    assert stored == body.size, (stored, body.size)
    return Run("raw S3", body.size, seconds)


async def test_upload_memory_does_not_grow_with_file_size(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path: Path
) -> None:
    db_name = f"ferry_bench_{new_id()[:10]}"
    bucket = f"ferry-bench-{new_id()[:10]}"
    raw_bucket = f"ferry-bench-raw-{new_id()[:10]}"
    s3 = Minio(
        s3_server.endpoint.split("://", 1)[1],
        s3_server.access_key,
        s3_server.secret_key,
        secure=False,
        region="us-east-1",
    )
    await asyncio.to_thread(s3.make_bucket, raw_bucket)
    bodies = [Body.about(size) for size in SIZES]
    expected = {body.size: body.sha256() for body in bodies}  # computed before any clock starts

    with platform.distributed(
        amqp_url, mongo_url, s3_server.endpoint, s3_server.access_key, s3_server.secret_key, bucket, db_name, tmp_path
    ) as (urls, processes):
        processes["parser"].stop()  # see the module docstring
        ingest = processes["ingest"]
        gateway: list[Run] = []
        raw: list[Run] = []
        async with httpx.AsyncClient(timeout=httpx.Timeout(300)) as client:
            auth = await login(client, urls)
            # Warm-up: first-request costs (imports, connection pools) are not the file's.
            warm, record = await upload_through_gateway(client, urls, auth, Body.about(WARMUP), ingest.process.pid)
            await client.delete(f"{urls.files}/files/{record['file_id']}", headers=auth)
            await asyncio.to_thread(put_raw, s3, raw_bucket, Body.about(WARMUP))

            for body in bodies:
                run, record = await upload_through_gateway(client, urls, auth, body, ingest.process.pid)
                assert record["size"] == body.size, record
                assert record["sha256"] == expected[body.size], "the stored bytes differ from the sent ones"
                assert record["status"] == "queued", record
                gateway.append(run)
                deleted = await client.delete(f"{urls.files}/files/{record['file_id']}", headers=auth)
                assert deleted.status_code == 204, deleted.text
                raw.append(await asyncio.to_thread(put_raw, s3, raw_bucket, body))
        assert ingest.process.poll() is None, f"ingest died:\n{ingest.tail()}"
        ingest_log = ingest.log_path.read_text(errors="replace")

    await asyncio.to_thread(s3.remove_bucket, raw_bucket)
    mongo = mongo_client(mongo_url)
    await mongo.drop_database(db_name)
    await mongo.close()

    small, large = gateway
    limit = GROWTH_FACTOR * (small.growth_mib or 0) + SLACK_MIB
    ratios = [g.mib_s / r.mib_s for g, r in zip(gateway, raw, strict=True)]
    rows: list[tuple[object, ...]] = []
    for g, r, ratio in zip(gateway, raw, ratios, strict=True):
        rows.append(
            ("gateway POST /files", g.size / MIB, g.seconds, g.mib_s, g.baseline_mib, g.growth_mib,
             g.sampled_growth_mib, "")
        )  # fmt: skip
        rows.append(("raw S3 put_object", r.size / MIB, r.seconds, r.mib_s, "-", "-", "-", f"gateway/raw {ratio:.2f}"))
    report(
        table(
            "Upload: gateway memory and throughput vs a raw S3 upload of the same bytes",
            ["path", "MiB", "seconds", "MiB/s", "RSS before MiB", "peak growth MiB", "(sampled only)", "MiB/s ratio"],
            rows,
            notes=[
                f"ingest RSS: baseline before each upload, sampled every 50 ms ({small.samples} and {large.samples} "
                "samples)"
                + (" and the kernel's VmHWM (reset before each upload)" if large.kernel_peak else "")
                + "; growth = the larger peak minus the baseline",
                f"claim: growth at {large.size / MIB:.0f} MiB ({large.growth_mib:.1f}) < "
                f"{GROWTH_FACTOR:.0f} x growth at {small.size / MIB:.0f} MiB + {SLACK_MIB:.0f} = {limit:.1f} MiB",
                f"throughput ratio gateway/raw S3: {' and '.join(f'{r:.2f}' for r in ratios)} "
                f"(floor {MIN_THROUGHPUT_RATIO}, loose); warm-up {warm.size / MIB:.0f} MiB in {warm.seconds:.2f}s",
                f"S3 server: the ferry_testkit one (moto's server without Docker), same machine, {cpu_count()} cores",
            ],
        )
    )
    assert (large.growth_mib or 0) < limit, f"gateway memory grows with file size:\n{ingest_log[-3000:]}"
    assert min(ratios) > MIN_THROUGHPUT_RATIO, ratios
