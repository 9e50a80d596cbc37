"""Restart the machine's RabbitMQ from a test: ``rabbitmqctl stop_app`` / ``start_app``.

The broker is shared (other tests and other runs use it, each in its own
vhost), so a test that stops it always starts it again, and waits until it
answers, however the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from ferry_testkit.servers import port_open

START_TIMEOUT = 120.0


async def rabbitmqctl(*args: str, timeout: float = 120.0) -> str:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {output.decode(errors='replace')}")
    return output.decode(errors="replace")


async def start_broker() -> None:
    """``start_app`` and wait until the broker takes AMQP connections again."""
    await rabbitmqctl("start_app")
    await rabbitmqctl("await_startup", timeout=START_TIMEOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while not port_open("127.0.0.1", 5672):
        assert time.monotonic() < deadline, "RabbitMQ did not answer again"
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def broker_stopped() -> AsyncIterator[None]:
    """RabbitMQ is down inside the block (every connection dropped); up again after it, whatever happens."""
    try:
        await rabbitmqctl("stop_app")
        yield
    finally:
        await start_broker()
