"""``ResumeStore``: where a client remembers its unfinished resumable uploads, so another process resumes them.

One small JSON file, keyed by a fingerprint of (server, user, organization, absolute
path, size, modification time): the same file sent again by the same user to the same
place finds its upload URL; a changed file has another fingerprint and starts afresh.
The store is best effort: an unreadable file is an empty store, and a lost entry only
means that upload starts over.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Entries older than this are dropped when the store is written (the server expires uploads after a day).
MAX_AGE_SECONDS = 7 * 24 * 3600


def fingerprint(server: str, user: str, org: str | None, path: Path, size: int, mtime_ns: int) -> str:
    """The key of one file's upload; nothing of it is readable from the key."""
    parts = [server.rstrip("/"), user, org or "", str(path.resolve()), str(size), str(mtime_ns)]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class ResumeStore:
    """Upload URLs by fingerprint, in a JSON file (mode 0600) shared by every process that names it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        entry = self._read().get(key)
        url = entry.get("url") if isinstance(entry, dict) else None
        return url if isinstance(url, str) else None

    def put(self, key: str, url: str) -> None:
        with self._locked() as entries:
            entries[key] = {"url": url, "saved_at": time.time()}

    def remove(self, key: str) -> None:
        with self._locked() as entries:
            entries.pop(key, None)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """The entries to change, written back atomically; threads and (on POSIX) processes take turns."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._lock, _file_lock(self.path.with_name(f".{self.path.name}.lock")):
            entries = self._read()
            yield entries
            oldest = time.time() - MAX_AGE_SECONDS
            kept = {k: v for k, v in entries.items() if isinstance(v, dict) and v.get("saved_at", 0) >= oldest}
            self._write(kept)

    def _write(self, entries: dict[str, Any]) -> None:
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(entries, out, indent=1)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    if sys.platform == "win32":  # a lost race there costs one upload a fresh start, nothing worse
        yield
        return
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
