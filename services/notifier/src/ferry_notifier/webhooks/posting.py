"""One webhook POST: to the address the SSRF check passed, bounded in time, redirects not followed, the reply cut short.

Whatever happens is an ``Outcome`` (a status code and the first bytes of the reply, or
an error), never an exception: the sender records it as the attempt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpcore

from ferry_notifier.webhooks.ssrf import PinnedBackend, Target, UnsafeUrl, resolve


@dataclass(frozen=True)
class Limits:
    connect_timeout: float
    """Seconds for resolving the host and connecting (TLS included)."""
    read_timeout: float
    """Seconds for sending the body and reading the reply."""
    response_limit: int
    """Bytes of the reply kept; reading stops there."""
    allow_private: bool


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    response: str | None
    """The first ``response_limit`` bytes of the reply, as text."""
    error: str | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def post(url: str, content: bytes, headers: Mapping[str, str], limits: Limits) -> Outcome:
    """POST ``content`` to ``url`` once its host passes the SSRF check; a refused address is an ``error``."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(limits.connect_timeout):
            target = await resolve(url, allow_private=limits.allow_private)
    except UnsafeUrl as exc:
        return _outcome(started, error=f"refused: {exc}")
    except TimeoutError:
        return _outcome(started, error="timeout: resolving the host")
    return await post_to(target, content, headers, limits, started=started)


async def post_to(
    target: Target, content: bytes, headers: Mapping[str, str], limits: Limits, *, started: float | None = None
) -> Outcome:
    """POST to ``target.url`` over a connection to one of ``target.addresses`` (never a fresh DNS answer)."""
    started = time.monotonic() if started is None else started
    timeouts = {
        "connect": limits.connect_timeout,
        "read": limits.read_timeout,
        "write": limits.read_timeout,
        "pool": limits.connect_timeout,
    }
    # A pool per attempt: its only connection goes to the addresses just checked, and is closed after.
    pool = httpcore.AsyncConnectionPool(network_backend=PinnedBackend(target), max_connections=1, retries=0)
    try:
        # httpcore's read time-out is per read; this bounds a reply that trickles in too.
        async with (
            asyncio.timeout(limits.connect_timeout + limits.read_timeout),
            pool,
            pool.stream(
                "POST", target.url, headers=list(headers.items()), content=content, extensions={"timeout": timeouts}
            ) as response,
        ):
            kept = await _read_at_most(response, limits.response_limit)
            return _outcome(started, response.status, kept.decode("utf-8", errors="replace"))
    except httpcore.ConnectTimeout:
        return _outcome(started, error="timeout: connecting")
    except (httpcore.ReadTimeout, httpcore.WriteTimeout, TimeoutError):
        return _outcome(started, error="timeout: waiting for the response")
    except httpcore.ConnectError as exc:
        return _outcome(started, error=f"connection failed: {exc}" if str(exc) else "connection failed")
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        return _outcome(started, error=f"{type(exc).__name__}: {exc}")


def _outcome(
    started: float, status_code: int | None = None, response: str | None = None, error: str | None = None
) -> Outcome:
    return Outcome(status_code, response, error, round((time.monotonic() - started) * 1000))


async def _read_at_most(response: httpcore.Response, limit: int) -> bytes:
    """The reply's first ``limit`` bytes; the rest is never read (the connection is closed instead)."""
    kept = bytearray()
    if limit <= 0:
        return b""
    async for chunk in response.aiter_stream():
        kept += chunk
        if len(kept) >= limit:
            break
    return bytes(kept[:limit])
