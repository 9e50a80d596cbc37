"""The clients a service runs on, built once and closed in reverse order.

Distributed mode: each service connects from its own settings. Embedded mode:
the launcher builds one ``Infrastructure`` (memory bus, folder blobs, the
embedded SecantusDB) and hands it to every service.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.blobs import BlobStore
from ferry_core.blobs.s3 import S3BlobStore
from ferry_core.bus import Bus
from ferry_core.bus.amqp import AmqpBus
from ferry_core.settings import CommonSettings

Document = dict[str, object]


@dataclass
class Infrastructure:
    bus: Bus
    mongo: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    blobs: BlobStore | None = None

    def require_blobs(self) -> BlobStore:
        if self.blobs is None:
            raise RuntimeError("this service was started without a blob store")
        return self.blobs

    async def close(self) -> None:
        await self.bus.close()
        if self.blobs is not None:
            await self.blobs.close()
        await self.mongo.close()

    async def readiness(self) -> dict[str, bool]:
        """Which dependencies answer right now (for ``/ready``)."""
        checks = {"broker": self.bus.ping(), "database": mongo_ping(self.mongo)}
        if self.blobs is not None:
            checks["blobs"] = self.blobs.ping()
        results = await asyncio.gather(*checks.values())
        return dict(zip(checks, results, strict=True))


def mongo_client(url: str) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(url, serverSelectionTimeoutMS=5000, tz_aware=True)


async def mongo_ping(client: AsyncMongoClient[Document]) -> bool:
    try:
        await asyncio.wait_for(client.admin.command("ping"), 3)
    except Exception:
        return False
    return True


async def connect(settings: CommonSettings, *, with_blobs: bool = True) -> Infrastructure:
    """Connect to RabbitMQ, MongoDB and S3 as the settings say."""
    bus = AmqpBus(settings.amqp_url)
    await bus.start()
    mongo = mongo_client(settings.mongo_url)
    blobs: BlobStore | None = None
    if with_blobs:
        blobs = S3BlobStore(
            settings.s3_endpoint,
            settings.s3_access_key,
            settings.s3_secret_key,
            settings.s3_bucket,
            public_endpoint=settings.s3_public_endpoint,
        )
        await blobs.start()
    return Infrastructure(bus=bus, mongo=mongo, db=mongo[settings.mongo_db], blobs=blobs)
