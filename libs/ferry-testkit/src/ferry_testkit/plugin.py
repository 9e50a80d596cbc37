"""Pytest fixtures for real servers; loaded automatically once ferry-testkit is installed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import new_id
from ferry_core.infra import Document, mongo_client
from ferry_testkit import servers


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with servers.rabbitmq() as url:
        yield url


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    with servers.mongodb() as url:
        yield url


@pytest.fixture(scope="session")
def s3_server() -> Iterator[servers.S3Server]:
    with servers.s3() as server:
        yield server


@pytest_asyncio.fixture
async def mongo(mongo_url: str) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = mongo_client(mongo_url)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def mongo_db(mongo: AsyncMongoClient[Document]) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of its own for each test, dropped afterwards."""
    name = f"ferry_test_{new_id()[:12]}"
    yield mongo[name]
    await mongo.drop_database(name)


@pytest.fixture
def s3_bucket() -> str:
    return f"ferry-test-{new_id()[:12]}"
