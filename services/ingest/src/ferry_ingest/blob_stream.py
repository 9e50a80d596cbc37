"""Open a blob for a streamed answer: a missing one is a 404 before any header is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ferry_core.blobs import BlobNotFound, BlobStore
from ferry_ingest.errors import FileNotFound


async def open_blob(
    blobs: BlobStore, key: str, missing: str = "the file's content is not available"
) -> AsyncIterator[bytes]:
    """The blob's chunks, its first one already read (so ``BlobNotFound`` surfaces here, as ``FileNotFound``)."""
    chunks = blobs.get(key)
    try:
        first = await anext(chunks)
    except (BlobNotFound, ValueError):  # ValueError: not a key this store could hold
        raise FileNotFound(missing) from None
    except StopAsyncIteration:
        first = b""

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for chunk in chunks:
            yield chunk

    return body()
