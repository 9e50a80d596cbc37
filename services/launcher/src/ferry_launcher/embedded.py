"""The embedded mode: the whole platform in one process, with no infrastructure to install.

An in-memory bus, blobs in a folder, and SecantusDB (a MongoDB-wire server
started here as a child process) for documents, so the services run the same
driver code as in production. Everything persists under the data folder.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import uvicorn

from ferry_auth.app import create_app as create_auth
from ferry_auth.settings import AuthSettings
from ferry_core.blobs.fs import FsBlobStore
from ferry_core.bus.memory import MemoryBus
from ferry_core.embedded_mongo import EmbeddedMongo
from ferry_core.infra import Infrastructure, mongo_client
from ferry_core.observability import silence_refused_handshake_noise
from ferry_core.settings import CommonSettings
from ferry_ingest.app import create_app as create_ingest
from ferry_ingest.settings import IngestSettings
from ferry_launcher.edge import Edge
from ferry_notifier.app import create_app as create_notifier
from ferry_notifier.settings import NotifierSettings
from ferry_parser.app import create_app as create_parser
from ferry_parser.settings import ParserSettings

S = TypeVar("S", bound=CommonSettings)


@dataclass(frozen=True)
class EmbeddedConfig:
    host: str
    port: int
    data_dir: Path
    mongo_db: str

    @property
    def self_url(self) -> str:
        """Where this process reaches itself (the JWKS is fetched from here)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


def config_from_env() -> EmbeddedConfig:
    common = CommonSettings()
    return EmbeddedConfig(host=common.host, port=common.port, data_dir=common.data_dir, mongo_db=common.mongo_db)


def _settings(cls: type[S], config: EmbeddedConfig) -> S:
    """A service's settings from the environment, pinned to this process's port and data folder."""
    return cls(port=config.port, data_dir=config.data_dir, auth_url=config.self_url)


def notifier_settings(config: EmbeddedConfig) -> NotifierSettings:
    """The notifier's settings; webhooks to loopback and private addresses are allowed unless the environment says.

    One machine runs everything, so a developer's receiver is on localhost: the SSRF rule that protects a
    server's internal network would only refuse it. ``FERRY_WEBHOOK_ALLOW_PRIVATE`` set either way wins.
    """
    settings = _settings(NotifierSettings, config)
    if "webhook_allow_private" in settings.model_fields_set:  # read from the environment
        return settings
    return settings.model_copy(update={"webhook_allow_private": True})


AUTH_PREFIXES = ("/auth", "/users", "/audit", "/orgs", "/invitations", "/.well-known")
NOTIFIER_PREFIXES = ("/ws", "/events", "/webhooks")
"""The edge's routing table (as deploy/nginx/ferry.conf and the Kubernetes Ingress); the rest goes to ingest."""


def build_edge(config: EmbeddedConfig, infra: Infrastructure) -> Edge:
    auth = create_auth(_settings(AuthSettings, config), infra)
    ingest = create_ingest(_settings(IngestSettings, config), infra)
    parser = create_parser(_settings(ParserSettings, config), infra)
    notifier = create_notifier(notifier_settings(config), infra)
    return Edge(
        routes=[(AUTH_PREFIXES, auth), (NOTIFIER_PREFIXES, notifier)],
        default=ingest,
        # Consumers subscribe before anything publishes: the gateway's relay, and auth (which
        # announces a promoted admin's API keys at start); the in-memory bus keeps no unbound messages.
        lifespan_order=[parser, ingest, notifier, auth],
    )


def banner(config: EmbeddedConfig) -> str:
    url = config.self_url
    return f"""
  Ferry is running (embedded mode; data in {config.data_dir.resolve()})

    API        {url}
    API docs   {url}/docs
    WebSocket  {url.replace("http", "ws", 1)}/ws/{{file_id}}?token=...

  Create an account:
    curl -s {url}/auth/register -H 'content-type: application/json' \\
      -d '{{"username": "ada", "email": "ada@example.com", "password": "correct horse battery"}}'

  Press Ctrl-C to stop.
"""


def run(config: EmbeddedConfig) -> None:
    config.data_dir.mkdir(parents=True, exist_ok=True)
    mongo = EmbeddedMongo(config.data_dir / "db", log_path=config.data_dir / "secantus.log").start()
    try:
        asyncio.run(_serve(config, mongo.url))
    finally:
        mongo.stop()


async def _serve(config: EmbeddedConfig, mongo_url: str) -> None:
    client = mongo_client(mongo_url)
    blobs = FsBlobStore(config.data_dir / "blobs")
    await blobs.start()
    infra = Infrastructure(bus=MemoryBus(), mongo=client, db=client[config.mongo_db], blobs=blobs)
    edge = build_edge(config, infra)
    silence_refused_handshake_noise()
    notifier = NotifierSettings()
    server = uvicorn.Server(
        uvicorn.Config(
            edge,
            host=config.host,
            port=config.port,
            log_config=None,
            lifespan="on",
            ws_ping_interval=notifier.ws_ping_interval_seconds or None,
            ws_ping_timeout=notifier.ws_ping_timeout_seconds,
            # Open SSE streams never end by themselves; don't let them hold Ctrl-C hostage.
            timeout_graceful_shutdown=notifier.shutdown_grace_seconds,
        )
    )
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets)
        if server.started:
            print(banner(config), flush=True)

    server.startup = startup  # type: ignore[method-assign]
    try:
        await server.serve()
    finally:
        await infra.close()
