"""tus 1.0 on the wire: the headers the gateway reads and writes, parsed strictly (docs/DECISIONS.md, "tus 1.0").

Only parsing and formatting live here; what an upload does with them is in ``tus_store``.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from email.utils import format_datetime

from ferry_ingest.errors import BadUpload, IngestError

VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
CHECKSUM_ALGORITHMS = "sha256"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
FILE_ID_HEADER = "Ferry-File-Id"

_DIGITS = re.compile(r"[0-9]{1,19}")
_META_KEY = re.compile(r"[!-+\--~]{1,100}")  # printable ASCII without space and comma
_MAX_METADATA = 8 * 1024
_SHA256_BYTES = 32


class PreconditionFailed(IngestError):
    """The client speaks another tus version (or none): 412, with the versions the server speaks."""

    status_code = 412


class ChecksumMismatch(IngestError):
    """The PATCH body does not match its ``Upload-Checksum``: tus's 460, and nothing of it is kept."""

    status_code = 460


def require_version(raw: str | None) -> None:
    if raw != VERSION:
        raise PreconditionFailed(f"Tus-Resumable must be {VERSION}")


def parse_size(name: str, raw: str | None) -> int:
    """A non-negative integer header (``Upload-Length``, ``Upload-Offset``); 400 when missing or malformed."""
    if raw is None:
        raise BadUpload(f"{name} is required")
    value = raw.strip()
    if not _DIGITS.fullmatch(value):
        raise BadUpload(f"{name} must be a non-negative integer")
    return int(value)


def parse_metadata(raw: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (a key alone means an empty value)."""
    if not raw or not raw.strip():
        return {}
    if len(raw) > _MAX_METADATA:
        raise BadUpload(f"Upload-Metadata is longer than {_MAX_METADATA} characters")
    pairs: dict[str, str] = {}
    for item in raw.split(","):
        fields = item.strip().split(" ")
        key = fields[0]
        if not _META_KEY.fullmatch(key) or len(fields) > 2 or key in pairs:
            raise BadUpload("Upload-Metadata must be distinct `key base64value` pairs separated by commas")
        try:
            value = base64.b64decode(fields[1], validate=True).decode() if len(fields) == 2 else ""
        except (binascii.Error, UnicodeDecodeError):
            raise BadUpload(f"Upload-Metadata: the value of {key!r} is not base64 of UTF-8 text") from None
        pairs[key] = value
    return pairs


def format_metadata(pairs: dict[str, str]) -> str:
    encoded = (f"{key} {base64.b64encode(value.encode()).decode()}" if value else key for key, value in pairs.items())
    return ",".join(encoded)


def parse_checksum(raw: str | None) -> bytes | None:
    """``Upload-Checksum: sha256 <base64 digest>`` → the digest; 400 for another algorithm or a malformed one."""
    if raw is None:
        return None
    algorithm, _, encoded = raw.strip().partition(" ")
    if algorithm.lower() != "sha256":
        raise BadUpload(f"Upload-Checksum: only {CHECKSUM_ALGORITHMS} is supported")
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != _SHA256_BYTES:
        raise BadUpload("Upload-Checksum: the digest must be the base64 of 32 bytes")
    return digest


def parse_bool(raw: str | None) -> bool:
    return (raw or "").strip().lower() in {"true", "1", "yes", "on"}


def http_date(moment: datetime) -> str:
    """``Upload-Expires`` is an RFC 9110 HTTP date."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)
