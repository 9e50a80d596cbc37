"""tus headers, parsed strictly: what is refused with 400 (or 412), and what comes back."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ferry_ingest.errors import BadUpload
from ferry_ingest.tus_protocol import (
    PreconditionFailed,
    format_metadata,
    http_date,
    parse_checksum,
    parse_metadata,
    parse_size,
    require_version,
)


def test_version() -> None:
    require_version("1.0.0")
    for other in (None, "", "0.2.2", "1.0"):
        with pytest.raises(PreconditionFailed):
            require_version(other)


def test_sizes() -> None:
    assert parse_size("Upload-Offset", " 42 ") == 42
    for bad in (None, "", "-1", "1.5", "0x10", "1e3", "9" * 20):
        with pytest.raises(BadUpload):
            parse_size("Upload-Offset", bad)


def test_metadata_round_trip() -> None:
    pairs = {"filename": "résumé, final.csv", "analyze": "true", "empty": ""}
    raw = format_metadata(pairs)
    assert "empty" in raw.split(",")  # a key alone is an empty value
    assert parse_metadata(raw) == pairs
    assert parse_metadata(None) == {} == parse_metadata("  ")
    assert parse_metadata("filename  d29ybGQ=".replace("  ", " ")) == {"filename": "world"}


@pytest.mark.parametrize(
    "raw",
    [
        "filename d29ybGQ=,filename d29ybGQ=",  # twice
        "filename not-base64!",
        "filename d29ybGQ= extra",
        "file\u00e9name d29ybGQ=",  # not ASCII
        "filename " + base64.b64encode(b"\xff\xfe").decode(),  # not UTF-8
        "a " + "QQ==" * 3000,  # too long
    ],
)
def test_bad_metadata(raw: str) -> None:
    with pytest.raises(BadUpload):
        parse_metadata(raw)


def test_checksum() -> None:
    digest = hashlib.sha256(b"abc").digest()
    assert parse_checksum(f"sha256 {base64.b64encode(digest).decode()}") == digest
    assert parse_checksum(None) is None
    for bad in (
        "md5 kAFQmDzST7DWlj99KOF/cg==",
        "sha256",
        "sha256 !!!",
        "sha256 " + base64.b64encode(b"short").decode(),
    ):
        with pytest.raises(BadUpload):
            parse_checksum(bad)


def test_http_date_is_gmt_whatever_the_zone() -> None:
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert http_date(moment) == "Sun, 01 Mar 2026 12:30:00 GMT"
    assert http_date(moment.astimezone(timezone(timedelta(hours=2)))) == "Sun, 01 Mar 2026 12:30:00 GMT"
