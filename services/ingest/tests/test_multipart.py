from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ferry_ingest.errors import BadUpload, InvalidContent
from ferry_ingest.multipart import MultipartReader, boundary_of

BOUNDARY = "----ferry-test-boundary"


def body(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: text/csv\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


async def in_chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize("chunk_size", [1, 7, 1024, 1 << 20])
async def test_streams_the_file_part_whatever_the_chunking(chunk_size: int) -> None:
    payload = b"a,b\r\n" * 5000 + b"--not-a-boundary\r\n"
    raw = body(("note", None, b"hello"), ("file", "data.csv", payload), ("after", None, b"x"))
    reader = MultipartReader(in_chunks(raw, chunk_size), BOUNDARY.encode())
    part = await reader.open_file("file")
    assert part.filename == "data.csv"
    assert part.content_type == "text/csv"
    received = b"".join([chunk async for chunk in reader.file_chunks()])
    assert received == payload
    assert reader.fields == {"note": "hello"}
    await reader.drain()
    assert reader.fields == {"note": "hello", "after": "x"}  # a field after the file is known once drained


async def test_other_file_parts_are_skipped_not_kept_as_fields() -> None:
    big = b"x" * (200 * 1024)  # beyond what a text field may hold
    raw = body(
        ("extra", "a.bin", big), ("file", "data.csv", b"a\n"), ("more", "b.bin", big), ("project_id", None, b"p")
    )
    reader = MultipartReader(in_chunks(raw, 4096), BOUNDARY.encode())
    await reader.open_file("file")
    assert b"".join([chunk async for chunk in reader.file_chunks()]) == b"a\n"
    await reader.drain()
    assert reader.fields == {"project_id": "p"}


async def test_missing_file_field_is_a_clear_error() -> None:
    reader = MultipartReader(in_chunks(body(("other", None, b"x")), 100), BOUNDARY.encode())
    with pytest.raises(InvalidContent, match="'file'"):
        await reader.open_file("file")


async def test_truncated_body_is_refused() -> None:
    raw = body(("file", "data.csv", b"a,b\n" * 1000))[:2000]
    reader = MultipartReader(in_chunks(raw, 512), BOUNDARY.encode())
    await reader.open_file("file")
    with pytest.raises(BadUpload, match="ended before"):
        async for _ in reader.file_chunks():
            pass


def test_boundary_parsing() -> None:
    assert boundary_of(f"multipart/form-data; boundary={BOUNDARY}") == BOUNDARY.encode()
    assert boundary_of("application/json") is None
    assert boundary_of(None) is None
