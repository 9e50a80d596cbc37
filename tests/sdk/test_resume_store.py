"""``ResumeStore`` and its fingerprints, on their own (no server): what finds an upload again, and what does not."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ferry_sdk import ResumeStore
from ferry_sdk.resume import MAX_AGE_SECONDS, fingerprint


def _key(path: Path, server: str = "http://ferry", user: str = "user:1", org: str | None = None) -> str:
    st = path.stat()
    return fingerprint(server, user, org, path, st.st_size, st.st_mtime_ns)


def test_a_fingerprint_names_one_file_as_it_is_for_one_user_on_one_server(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("a,b\n1,2\n")
    key = _key(path)
    st = path.stat()
    same = fingerprint("http://ferry/", "user:1", None, tmp_path / "." / "data.csv", st.st_size, st.st_mtime_ns)
    assert same == key  # the path is resolved and the server's trailing slash does not count
    assert len({key, _key(path, server="http://other"), _key(path, user="user:2"), _key(path, org="o1")}) == 4
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert _key(path) != key  # touched: perhaps changed, so not resumed
    assert "data.csv" not in key and str(tmp_path) not in key


def test_put_get_remove_and_the_file_is_private(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path / "cfg" / "uploads.json")
    assert store.get("k") is None  # no file yet: an empty store
    store.put("k", "/files/tus/abc")
    store.put("j", "/files/tus/def")
    assert ResumeStore(store.path).get("k") == "/files/tus/abc"  # another instance (process) reads it
    store.remove("k")
    assert store.get("k") is None and store.get("j") == "/files/tus/def"
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_an_unreadable_store_is_empty_and_is_rewritten(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path / "uploads.json")
    store.path.write_text("{not json")
    assert store.get("k") is None
    store.put("k", "/files/tus/abc")
    assert store.get("k") == "/files/tus/abc"


def test_old_entries_are_dropped_when_the_store_is_written(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path / "uploads.json")
    store.path.write_text(f'{{"old": {{"url": "/files/tus/old", "saved_at": {1e9 - MAX_AGE_SECONDS}}}}}')
    assert store.get("old") == "/files/tus/old"
    store.put("new", "/files/tus/new")
    assert store.get("old") is None and store.get("new") == "/files/tus/new"


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = ResumeStore(tmp_path / "uploads.json")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: ResumeStore(store.path).put(f"k{i}", f"/files/tus/{i}"), range(64)))
    assert all(store.get(f"k{i}") == f"/files/tus/{i}" for i in range(64))
