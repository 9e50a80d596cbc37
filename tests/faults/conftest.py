"""Ferry's four services as separate processes that a test can kill and restart."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry_core.embedded_mongo import EmbeddedMongo, free_port
from ferry_core.events import new_id
from ferry_testkit.servers import S3Server
from tests.e2e import platform

SERVICES = ("auth", "parser", "ingest", "notifier")


class Cluster:
    def __init__(self, env: dict[str, str], work: Path) -> None:
        self.env = env
        self.work = work
        self.ports = {name: free_port() for name in SERVICES}
        self.env["FERRY_AUTH_URL"] = self.url("auth")
        self.processes: dict[str, platform.Process] = {}
        self._starts = 0

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str, **extra_env: str) -> platform.Process:
        self._starts += 1
        env = {**self.env, **extra_env}
        process = platform.serve(name, self.ports[name], env, self.work, name=f"{name}-{self._starts}")
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.process.send_signal(signal.SIGKILL)
        process.process.wait(30)
        process.stop()

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    @property
    def urls(self) -> platform.Urls:
        return platform.Urls(auth=self.url("auth"), files=self.url("ingest"), notifier=self.url("notifier"))


@pytest.fixture
def mongo_url(tmp_path: Path) -> Iterator[str]:
    """A MongoDB-wire server of the test's own, storing on disk (overrides the session's in-memory one).

    The fault tests write hundreds of megabytes (a 1.5M-row file, 100 uploads); the session's
    server keeps its data and oplog in a 256 MB in-memory cache, and once these had gone through
    it, later tests' index builds failed with an internal error. Its own server also means a
    killed service cannot leave anything behind for the next test.
    """
    if url := os.environ.get("FERRY_TEST_MONGO_URL"):
        yield url
        return
    folder = tmp_path / "secantus"
    server = EmbeddedMongo(folder / "db", log_path=folder / "secantus.log").start()
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cluster_env() -> dict[str, str]:
    """Settings every service of the cluster starts with; a test module overrides this to add its own."""
    return {}


@pytest.fixture
def cluster(
    amqp_url: str, mongo_url: str, s3_server: S3Server, tmp_path: Path, cluster_env: dict[str, str]
) -> Iterator[Cluster]:
    env = platform.base_env(tmp_path / "data")
    env.update(
        {
            "FERRY_AMQP_URL": amqp_url,
            "FERRY_MONGO_URL": mongo_url,
            "FERRY_MONGO_DB": f"ferry_faults_{new_id()[:10]}",
            "FERRY_S3_ENDPOINT": s3_server.endpoint,
            "FERRY_S3_ACCESS_KEY": s3_server.access_key,
            "FERRY_S3_SECRET_KEY": s3_server.secret_key,
            "FERRY_S3_BUCKET": f"ferry-faults-{new_id()[:10]}",
            **cluster_env,
        }
    )
    cluster = Cluster(env, tmp_path)
    try:
        for name in SERVICES:
            cluster.start(name)
        yield cluster
    finally:
        cluster.stop_all()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults" in str(item.path):
            item.add_marker(pytest.mark.e2e)
