"""The zip guard: declared sizes checked first, actual inflated bytes counted second; nothing is kept inflated.

Bombs are made small: a few MiB of zeros deflate to a few KiB, and declared
sizes are patched in the archive's headers rather than written out.
"""

from __future__ import annotations

import io
import os
import struct
import time
import zipfile
from pathlib import Path

import pytest

from ferry_parser.errors import CorruptFile, ZipBomb
from ferry_parser.formats import zipguard
from ferry_parser.formats.zipguard import ZipLimits, check_zip

MiB = 1 << 20


def make_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def declare(data: bytes, name: str, *, size: int | None = None, compressed: int | None = None) -> bytes:
    """The archive with ``name``'s declared sizes replaced, in its local header and in the central directory."""
    patched = bytearray(data)
    encoded = name.encode()
    for signature, compressed_at, size_at, name_length_at, fixed in (
        (b"PK\x03\x04", 18, 22, 26, 30),
        (b"PK\x01\x02", 20, 24, 28, 46),
    ):
        start = 0
        while (start := bytes(patched).find(signature, start)) >= 0:
            (name_length,) = struct.unpack_from("<H", patched, start + name_length_at)
            if bytes(patched[start + fixed : start + fixed + name_length]) == encoded:
                if compressed is not None:
                    struct.pack_into("<I", patched, start + compressed_at, compressed)
                if size is not None:
                    struct.pack_into("<I", patched, start + size_at, size)
            start += 4
    return bytes(patched)


def write(tmp_path: Path, data: bytes, name: str = "book.xlsx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path: Path, limits: ZipLimits | None = None) -> ZipBomb:
    with pytest.raises(ZipBomb) as caught:
        check_zip(path, limits, what="workbook")
    assert caught.value.code == "zip_bomb"
    assert caught.value.message.startswith("The workbook was refused as a zip bomb: ")
    return caught.value


def corrupt(path: Path) -> CorruptFile:
    with pytest.raises(CorruptFile) as caught:
        check_zip(path, what="workbook")
    assert caught.value.code == "corrupt_file"
    assert caught.value.message.startswith("The workbook is damaged or truncated: ")
    return caught.value


def test_defaults() -> None:
    limits = ZipLimits()
    assert limits.max_uncompressed_bytes == zipguard.MAX_UNCOMPRESSED_BYTES == 1 << 30
    assert limits.max_ratio == zipguard.MAX_COMPRESSION_RATIO == 100
    assert limits.ratio_floor_bytes == zipguard.RATIO_FLOOR_BYTES == MiB
    assert limits.max_members == zipguard.MAX_MEMBERS == 10_000


def test_an_ordinary_archive_passes_and_names_its_members(tmp_path: Path) -> None:
    text = "".join(f"<row r='{i}'><c><v>{i * 7919 % 10007}</v></c></row>" for i in range(60_000)).encode()
    members = {"[Content_Types].xml": b"<Types/>", "xl/worksheets/sheet1.xml": text, "mimetype": b"x"}
    path = write(tmp_path, make_zip(members))
    assert check_zip(path) == list(members)
    assert check_zip(write(tmp_path, make_zip(members, zipfile.ZIP_STORED), "stored.zip")) == list(members)


def test_small_members_may_compress_as_well_as_they_like(tmp_path: Path) -> None:
    path = write(tmp_path, make_zip({"styles.xml": b"\0" * MiB}))  # ~1000:1, but only 1 MiB
    assert check_zip(path) == ["styles.xml"]


def test_a_two_gigabyte_declared_member_is_refused_without_inflating(tmp_path: Path) -> None:
    data = declare(make_zip({"xl/worksheets/sheet1.xml": b"\0" * MiB}), "xl/worksheets/sheet1.xml", size=2 << 30)
    started = time.monotonic()
    error = refused(write(tmp_path, data))
    assert time.monotonic() - started < 1
    assert "2.0 GiB" in error.message
    assert os.path.getsize(tmp_path / "book.xlsx") < 10_000


def test_a_member_compressed_too_well_is_refused(tmp_path: Path) -> None:
    error = refused(write(tmp_path, make_zip({"xl/worksheets/sheet1.xml": b"\0" * (8 * MiB)})))
    assert "'xl/worksheets/sheet1.xml' would unpack from" in error.message


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, make_zip({f"part{i}.xml": b"" for i in range(6)}))
    error = refused(path, ZipLimits(max_members=5))
    assert "it holds 6 files" in error.message
    assert check_zip(path, ZipLimits(max_members=6))


def test_a_member_that_lies_about_its_size_is_caught_while_inflating(tmp_path: Path) -> None:
    """Declared small and plain, it inflates to 16 MiB: counting stops it after a little over 1 MiB."""
    name = "xl/worksheets/sheet1.xml"
    honest = make_zip({name: b"\0" * (16 * MiB)})
    with zipfile.ZipFile(io.BytesIO(honest)) as archive:
        compressed = archive.getinfo(name).compress_size
    path = write(tmp_path, declare(honest, name, size=compressed))

    with zipfile.ZipFile(path) as archive:  # nothing looks wrong in the directory
        assert archive.getinfo(name).file_size == compressed
    error = refused(path)
    assert "unpacks from" in error.message


def test_the_total_of_inflated_bytes_is_capped_whatever_is_declared(tmp_path: Path) -> None:
    noise = os.urandom(3 * MiB)  # does not compress: no ratio to catch
    path = write(tmp_path, declare(make_zip({"a.bin": noise}), "a.bin", size=1000))
    error = refused(path, ZipLimits(max_uncompressed_bytes=2 * MiB))
    assert "it unpacks to more than 2.0 MiB" in error.message


def test_many_members_adding_up_past_the_limit_are_refused(tmp_path: Path) -> None:
    members = {f"sheet{i}.xml": os.urandom(MiB) for i in range(3)}
    error = refused(write(tmp_path, make_zip(members)), ZipLimits(max_uncompressed_bytes=2 * MiB))
    assert "it would unpack to 3.0 MiB (at most 2.0 MiB)" in error.message


def test_not_a_zip_is_corrupt(tmp_path: Path) -> None:
    error = corrupt(write(tmp_path, b"id,name\n1,Ada\n"))
    assert "not a readable zip archive" in error.message


def test_a_truncated_zip_is_corrupt(tmp_path: Path) -> None:
    data = make_zip({"xl/workbook.xml": b"<workbook/>" * 1000, "xl/worksheets/sheet1.xml": os.urandom(5000)})
    corrupt(write(tmp_path, data[: len(data) - 30]))


def test_a_member_cut_short_is_corrupt(tmp_path: Path) -> None:
    name = "sheet.xml"
    data = make_zip({name: b"<row/>" * 20_000})
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        compressed = archive.getinfo(name).compress_size
    error = corrupt(write(tmp_path, declare(data, name, compressed=compressed // 2)))
    assert "'sheet.xml'" in error.message


def test_a_checksum_mismatch_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(make_zip({"sheet.xml": b"0123456789" * 100}, zipfile.ZIP_STORED))
    start = data.find(b"0123456789")
    data[start] = ord("X")
    error = corrupt(write(tmp_path, bytes(data)))
    assert "does not match its checksum or size" in error.message


def test_a_garbled_deflate_stream_is_corrupt(tmp_path: Path) -> None:
    name = "sheet.xml"
    data = bytearray(make_zip({name: os.urandom(4000) + b"<row/>" * 4000}))
    offset = 30 + len(name)
    data[offset : offset + 64] = b"\xff" * 64
    error = corrupt(write(tmp_path, bytes(data)))
    assert "cannot be inflated" in error.message


def test_unusual_compression_methods_are_refused(tmp_path: Path) -> None:
    error = corrupt(write(tmp_path, make_zip({"sheet.xml": b"<row/>"}, zipfile.ZIP_BZIP2)))
    assert "compression method 12" in error.message


def test_an_archive_needing_a_newer_zip_version_is_corrupt(tmp_path: Path) -> None:
    data = bytearray(make_zip({"sheet.xml": b"<row/>"}))
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 6, 87)  # version needed to extract: 8.7
    error = corrupt(write(tmp_path, bytes(data)))
    assert "zip directory cannot be read" in error.message
