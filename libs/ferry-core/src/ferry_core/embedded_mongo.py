"""SecantusDB as a child process: a MongoDB-wire server for the embedded mode and the tests.

The same driver code then runs in every mode; only the URL differs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Ask Linux to stop the database if Ferry itself is killed without cleaning up."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedMongo:
    """A SecantusDB server on 127.0.0.1; ``storage`` ``None`` keeps data in memory only."""

    def __init__(self, storage: Path | None, port: int | None = None, log_path: Path | None = None) -> None:
        self.storage = storage
        self.port = port or free_port()
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self, timeout: float = 60.0) -> EmbeddedMongo:
        if self.storage is not None:
            self.storage.mkdir(parents=True, exist_ok=True)
        storage = str(self.storage) if self.storage is not None else ":memory:"
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "secantus",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                storage,
                "--log-level",
                "WARNING",
                "--cache-size",
                "256M",
            ],
            stdout=log,
            stderr=log,
            # Its own process group, so a Ctrl-C in the terminal reaches Ferry first
            # and Ferry stops the database after the services have finished with it.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"SecantusDB exited with code {self._process.returncode}")
            try:
                client: MongoClient[dict[str, object]]
                with MongoClient(self.url, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return
            except Exception:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"SecantusDB did not answer on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
