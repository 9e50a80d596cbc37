"""Auth and notifier replicas as separate processes against RabbitMQ and MongoDB, for notifier tests and benches."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt

from ferry_core.embedded_mongo import free_port
from tests.e2e.platform import Process, base_env, serve

PASSWORD = "a-long-enough-passphrase"


@dataclass(frozen=True)
class Replicas:
    auth: str
    notifiers: list[str]
    processes: list[Process]

    def ws(self, index: int) -> str:
        return self.notifiers[index].replace("http://", "ws://", 1)


@contextlib.contextmanager
def auth_and_notifiers(
    amqp_url: str, mongo_url: str, db: str, work: Path, count: int = 2, **extra_env: str
) -> Iterator[Replicas]:
    """``ferry serve auth`` and ``count`` x ``ferry serve notifier``, each its own process on a free port."""
    auth_port = free_port()
    env = base_env(work / "data")
    env.update(
        {
            "FERRY_AMQP_URL": amqp_url,
            "FERRY_MONGO_URL": mongo_url,
            "FERRY_MONGO_DB": db,
            "FERRY_AUTH_URL": f"http://127.0.0.1:{auth_port}",
            "FERRY_LOG_LEVEL": "warning",
            **extra_env,
        }
    )
    processes: list[Process] = []
    try:
        ports = [("auth", auth_port)] + [(f"notifier-{n}", free_port()) for n in range(count)]
        for name, port in ports:
            processes.append(serve(name.split("-", 1)[0], port, env, work, name=name))
        urls = [f"http://127.0.0.1:{port}" for _, port in ports]
        yield Replicas(auth=urls[0], notifiers=urls[1:], processes=processes)
    finally:
        for process in reversed(processes):
            process.stop()


async def user_token(client: httpx.AsyncClient, auth_url: str, username: str) -> tuple[str, str]:
    """Register ``username`` and log in; its user id and access token."""
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    created = await client.post(f"{auth_url}/auth/register", json=body)
    assert created.status_code == 201, created.text
    login = await client.post(f"{auth_url}/auth/login", json={"username": username, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = str(login.json()["access_token"])
    user_id = str(jwt.decode(token, options={"verify_signature": False})["sub"])
    return user_id, token
