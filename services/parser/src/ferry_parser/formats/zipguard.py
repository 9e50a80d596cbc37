"""Refusing zip bombs before a zip-based format (xlsx, xlsm, xlsb, ods) reaches its parser.

Two passes, neither of which keeps inflated bytes:

1. The central directory, as declared: too many members, too many bytes in
   all, or one large member compressed too well is refused outright.
2. Every member inflated as a stream, counting what actually comes out:
   declared sizes can lie, and the parser (calamine) inflates until the data
   ends, not until the declared size. The pass stops as soon as a limit is
   passed, and checks each member's size and CRC on the way.

Only *stored* and *deflated* members are accepted: they are all that office
suites write.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ferry_parser.errors import CorruptFile, ZipBomb

MAX_UNCOMPRESSED_BYTES = 1 << 30
"""The most bytes all members together may inflate to (1 GiB)."""
MAX_COMPRESSION_RATIO = 100
"""The highest inflated-to-compressed ratio of a member larger than ``RATIO_FLOOR_BYTES``."""
RATIO_FLOOR_BYTES = 1 << 20
"""Members up to this size (1 MiB) may compress as well as they like."""
MAX_MEMBERS = 10_000

_READ_BYTES = 1 << 16
_INFLATE_BYTES = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then name and extra-field lengths
_LOCAL_SIGNATURE = b"PK\x03\x04"


@dataclass(frozen=True)
class ZipLimits:
    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES
    max_ratio: float = MAX_COMPRESSION_RATIO
    ratio_floor_bytes: int = RATIO_FLOOR_BYTES
    max_members: int = MAX_MEMBERS


def check_zip(path: Path, limits: ZipLimits | None = None, *, what: str = "file") -> list[str]:
    """The member names of the archive at ``path``; ``ZipBomb`` or ``CorruptFile`` when it must not be opened.

    ``what`` names the file in messages ("workbook").
    """
    limits = limits or ZipLimits()
    damaged = f"The {what} is damaged or truncated"
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise CorruptFile(f"{damaged}: it is not a readable zip archive ({exc}).") from None
    except (EOFError, ValueError, OverflowError, NotImplementedError) as exc:
        raise CorruptFile(f"{damaged}: its zip directory cannot be read ({exc}).") from None
    _check_declared(members, limits, what)
    with path.open("rb") as file:
        _Inflation(file, limits, what).run(members)
    return [member.filename for member in members]


def _check_declared(members: list[zipfile.ZipInfo], limits: ZipLimits, what: str) -> None:
    refused = f"The {what} was refused as a zip bomb"
    if len(members) > limits.max_members:
        raise ZipBomb(f"{refused}: it holds {len(members):,} files (at most {limits.max_members:,} are accepted).")
    declared = sum(member.file_size for member in members)
    if declared > limits.max_uncompressed_bytes:
        raise ZipBomb(
            f"{refused}: it would unpack to {size_text(declared)} (at most {size_text(limits.max_uncompressed_bytes)})."
        )
    for member in members:
        if _too_compressed(member.file_size, member.compress_size, limits):
            raise ZipBomb(
                f"{refused}: {member.filename!r} would unpack from {size_text(member.compress_size)} "
                f"to {size_text(member.file_size)}."
            )


def _too_compressed(inflated: int, compressed: int, limits: ZipLimits) -> bool:
    return inflated > limits.ratio_floor_bytes and inflated > limits.max_ratio * compressed


class _Inflation:
    """Inflates every member once, counting bytes, and stops at the first limit passed."""

    def __init__(self, file: BinaryIO, limits: ZipLimits, what: str) -> None:
        self._file = file
        self._limits = limits
        self._what = what
        self._total = 0

    def run(self, members: list[zipfile.ZipInfo]) -> None:
        for member in members:
            if member.flag_bits & 0x1:
                raise CorruptFile(f"{self._damaged}: {member.filename!r} is encrypted inside the zip archive.")
            if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise CorruptFile(
                    f"{self._damaged}: {member.filename!r} uses compression method {member.compress_type}, "
                    "which office files do not use."
                )
            self._inflate(member)

    @property
    def _damaged(self) -> str:
        return f"The {self._what} is damaged or truncated"

    def _inflate(self, member: zipfile.ZipInfo) -> None:
        self._seek_data(member)
        deflated = member.compress_type == zipfile.ZIP_DEFLATED
        inflater = zlib.decompressobj(-zlib.MAX_WBITS) if deflated else None
        left = member.compress_size
        inflated = 0
        crc = 0
        try:
            while left > 0 and not (inflater and inflater.eof):
                piece = self._file.read(min(_READ_BYTES, left))
                if not piece:
                    raise CorruptFile(f"{self._damaged}: the archive ends inside {member.filename!r}.")
                left -= len(piece)
                pending = piece
                while pending:
                    out = inflater.decompress(pending, _INFLATE_BYTES) if inflater else pending
                    pending = inflater.unconsumed_tail if inflater else b""
                    inflated += len(out)
                    crc = zlib.crc32(out, crc)
                    self._count(member, len(out), inflated)
        except zlib.error as exc:
            raise CorruptFile(f"{self._damaged}: {member.filename!r} cannot be inflated ({exc}).") from None
        if inflater and not inflater.eof:
            raise CorruptFile(f"{self._damaged}: {member.filename!r} is cut short.")
        if inflated != member.file_size or crc != member.CRC:
            raise CorruptFile(f"{self._damaged}: {member.filename!r} does not match its checksum or size.")

    def _seek_data(self, member: zipfile.ZipInfo) -> None:
        if member.header_offset < 0:
            raise CorruptFile(f"{self._damaged}: the entry of {member.filename!r} lies outside the archive.")
        self._file.seek(member.header_offset)
        header = self._file.read(_LOCAL_HEADER.size)
        if len(header) < _LOCAL_HEADER.size:
            raise CorruptFile(f"{self._damaged}: the archive ends before {member.filename!r}.")
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(header)
        if signature != _LOCAL_SIGNATURE:
            raise CorruptFile(f"{self._damaged}: the entry of {member.filename!r} is missing.")
        self._file.seek(name_length + extra_length, 1)

    def _count(self, member: zipfile.ZipInfo, more: int, inflated: int) -> None:
        self._total += more
        limits = self._limits
        refused = f"The {self._what} was refused as a zip bomb"
        if self._total > limits.max_uncompressed_bytes:
            raise ZipBomb(f"{refused}: it unpacks to more than {size_text(limits.max_uncompressed_bytes)}.")
        if _too_compressed(inflated, member.compress_size, limits):
            raise ZipBomb(
                f"{refused}: {member.filename!r} unpacks from {size_text(member.compress_size)} "
                f"to more than {size_text(inflated)}."
            )


def size_text(count: int) -> str:
    """``1536`` → ``"1.5 KiB"``."""
    if count < 1024:
        return f"{count:,} bytes"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"
