"""Start Ferry the way an operator would: real processes on free ports, driven over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from ferry_core.embedded_mongo import free_port
from ferry_core.events import new_id
from ferry_testkit.servers import S3Server

ADMIN_USERNAME = "root-admin"
ADMIN_PASSWORD = "an-admin-passphrase-for-tests"


@dataclass(frozen=True)
class Urls:
    """Where a client sends each kind of request (one origin in embedded mode)."""

    auth: str
    files: str
    notifier: str

    @property
    def ws(self) -> str:
        return self.notifier.replace("http://", "ws://", 1)


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def wait_healthy(process: Process, url: str, timeout: float = 90.0, path: str = "/ready") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{process.name} not ready at {url}:\n{process.tail()}")


def serve(service: str, port: int, env: dict[str, str], work: Path, name: str | None = None) -> Process:
    """``ferry serve <service>`` on ``port`` as its own process, once ready (stopped if it never is)."""
    cmd = [sys.executable, "-m", "ferry_launcher.cli", "serve", service]
    process = Process(name or service, cmd, {**env, "FERRY_PORT": str(port)}, work)
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}")
    except BaseException:
        process.stop()
        raise
    return process


def base_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env.update(
        {
            "FERRY_DATA_DIR": str(data_dir),
            "FERRY_HOST": "127.0.0.1",
            "FERRY_LOG_LEVEL": "info",
            "FERRY_ADMIN_USERNAME": ADMIN_USERNAME,
            "FERRY_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
    )
    return env


@contextlib.contextmanager
def distributed(
    amqp_url: str,
    mongo_url: str,
    s3_endpoint: str,
    s3_key: str,
    s3_secret: str,
    bucket: str,
    db: str,
    work: Path,
    services: tuple[str, ...] = ("auth", "parser", "ingest", "notifier"),
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[Urls, dict[str, Process]]]:
    """The four services (or those named) as separate processes against RabbitMQ, MongoDB and S3."""
    ports = {name: free_port() for name in ("auth", "ingest", "parser", "notifier")}
    env = base_env(work / "data")
    env.update(
        {
            "FERRY_AMQP_URL": amqp_url,
            "FERRY_MONGO_URL": mongo_url,
            "FERRY_MONGO_DB": db,
            "FERRY_S3_ENDPOINT": s3_endpoint,
            "FERRY_S3_ACCESS_KEY": s3_key,
            "FERRY_S3_SECRET_KEY": s3_secret,
            "FERRY_S3_BUCKET": bucket,
            "FERRY_AUTH_URL": f"http://127.0.0.1:{ports['auth']}",
            # Small chunks, so that reading content crosses chunk boundaries.
            "FERRY_CHUNK_ROWS": "100",
        }
    )
    env.update(extra_env or {})
    processes: dict[str, Process] = {}
    try:
        for name in services:
            processes[name] = serve(name, ports[name], env, work)
        urls = Urls(
            auth=f"http://127.0.0.1:{ports['auth']}",
            files=f"http://127.0.0.1:{ports['ingest']}",
            notifier=f"http://127.0.0.1:{ports['notifier']}",
        )
        yield urls, processes
    finally:
        for process in reversed(processes.values()):
            process.stop()


@contextlib.contextmanager
def isolated(
    name: str,
    amqp_url: str,
    mongo_url: str,
    s3: S3Server,
    work: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[Urls, dict[str, Process]]]:
    """``distributed`` on a database and a bucket of their own, named after ``name`` (one test module's platform)."""
    bucket, db = f"ferry-{name}-{new_id()[:8]}", f"ferry_{name}_{new_id()[:8]}"
    with distributed(
        amqp_url, mongo_url, s3.endpoint, s3.access_key, s3.secret_key, bucket, db, work, extra_env=extra_env
    ) as running:
        yield running


@contextlib.contextmanager
def embedded(work: Path, extra_env: dict[str, str] | None = None) -> Iterator[tuple[Urls, Process]]:
    """``ferry dev`` (what ``make dev`` runs) as one process on one port, with ``extra_env`` added to its settings."""
    port = free_port()
    env = {**base_env(work / "ferry-data"), **(extra_env or {})}
    cmd = [sys.executable, "-m", "ferry_launcher.cli", "dev", "--port", str(port)]
    process = Process("embedded", cmd, env, work)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, url)
        yield Urls(auth=url, files=url, notifier=url), process
    finally:
        process.stop()
