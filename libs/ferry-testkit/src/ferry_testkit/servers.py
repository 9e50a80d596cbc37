"""Start or find the servers the tests talk to; every one is a real process on a socket."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from ferry_core.embedded_mongo import EmbeddedMongo, free_port
from ferry_core.events import new_id


def docker_available() -> bool:
    """Whether a Docker engine answers (not merely whether the client is installed)."""
    if shutil.which("docker") is None and not os.environ.get("DOCKER_HOST"):
        return False
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        client.ping()
    except Exception:
        return False
    return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def wait_until(predicate: object, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready within {timeout:.0f}s")


# -- RabbitMQ ------------------------------------------------------------------


@contextlib.contextmanager
def rabbitmq() -> Iterator[str]:
    if url := os.environ.get("FERRY_TEST_AMQP_URL"):
        yield url
    elif docker_available():
        from testcontainers.rabbitmq import RabbitMqContainer

        with RabbitMqContainer("rabbitmq:4-management") as container:
            params = container.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/"
    else:
        with _local_rabbitmq_vhost() as url:
            yield url


def ensure_local_rabbitmq(timeout: float = 90.0) -> None:
    """Start the machine's RabbitMQ if it does not answer (``make test`` installs it)."""
    if port_open("127.0.0.1", 5672):
        return
    if shutil.which("rabbitmq-server") is None:
        raise RuntimeError("RabbitMQ is not installed; run `make test` (it installs it) or set FERRY_TEST_AMQP_URL")
    subprocess.run(["rabbitmq-server", "-detached"], check=False, capture_output=True)
    wait_until(lambda: port_open("127.0.0.1", 5672), timeout, "RabbitMQ")


@contextlib.contextmanager
def _local_rabbitmq_vhost() -> Iterator[str]:
    """A private vhost, so queues left by other runs never leak into this one."""
    ensure_local_rabbitmq()
    vhost = f"ferry-test-{new_id()[:10]}"
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


# -- MongoDB-wire ----------------------------------------------------------------


@contextlib.contextmanager
def mongodb() -> Iterator[str]:
    if url := os.environ.get("FERRY_TEST_MONGO_URL"):
        yield url
    elif docker_available():
        from testcontainers.mongodb import MongoDbContainer

        with MongoDbContainer("mongo:8") as container:
            yield container.get_connection_url()
    else:
        server = EmbeddedMongo(storage=None).start()
        try:
            yield server.url
        finally:
            server.stop()


# -- S3 ----------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str


@contextlib.contextmanager
def s3() -> Iterator[S3Server]:
    if endpoint := os.environ.get("FERRY_TEST_S3_ENDPOINT"):
        yield S3Server(
            endpoint,
            os.environ.get("FERRY_TEST_S3_ACCESS_KEY", "minioadmin"),
            os.environ.get("FERRY_TEST_S3_SECRET_KEY", "minioadmin"),
        )
    elif docker_available():
        from testcontainers.minio import MinioContainer

        with MinioContainer() as container:
            config = container.get_config()
            yield S3Server(f"http://{config['endpoint']}", config["access_key"], config["secret_key"])
    else:
        with _moto_server() as endpoint:
            yield S3Server(endpoint, "testing", "testing")


@contextlib.contextmanager
def _moto_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(endpoint + "/moto-api/", timeout=1)
            return True
        return False

    try:
        wait_until(answers, 60, "moto S3 server")
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)
