"""This replica's entry in ``parser_capabilities``: the converters it can run, refreshed every minute.

The gateway refuses (501) a conversion no live replica can make (``ferry_core.jobs.live_converters``).
LibreOffice counts only when its program runs (``soffice --version`` answers in time):
a broken installation is no better than none.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

import structlog

from ferry_core.events import utcnow
from ferry_core.jobs import CAPABILITIES, LIBREOFFICE
from ferry_core.readmodels import Db
from ferry_core.tasks import run_every, stop_task

log = structlog.get_logger(__name__)

REFRESH_SECONDS = 60.0
PROBE_SECONDS = 10.0


def replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def probe_converters(timeout: float = PROBE_SECONDS) -> list[str]:
    """The converters this machine can run: ``["libreoffice"]`` when ``soffice --version`` works."""
    from ferry_parser.conversion import libreoffice_path

    try:
        program = await asyncio.to_thread(libreoffice_path)
    except Exception:
        log.warning("could not look for LibreOffice", exc_info=True)
        return []
    if program is None:
        return []
    try:
        process = await asyncio.create_subprocess_exec(
            program,
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as exc:
        log.warning("LibreOffice does not start", program=program, error=str(exc))
        return []
    try:
        returncode = await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        log.warning("LibreOffice did not answer in time", program=program, seconds=timeout)
        return []
    if returncode != 0:
        log.warning("LibreOffice failed to run", program=program, exit=returncode)
        return []
    return [LIBREOFFICE]


class Capabilities:
    """Probes once at start, then keeps this replica's entry fresh until ``stop`` removes it."""

    def __init__(self, db: Db, replica: str | None = None) -> None:
        self._entries = db[CAPABILITIES]
        self.replica = replica or replica_name()
        self.converters: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.converters = await probe_converters()
        log.info("converters available", converters=self.converters)
        await self.refresh()
        self._task = run_every(REFRESH_SECONDS, self.refresh, name="ferry-parser-capabilities")

    async def refresh(self) -> None:
        entry = {"_id": self.replica, "converters": self.converters, "seen_at": utcnow()}
        await self._entries.replace_one({"_id": self.replica}, entry, upsert=True)

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        with contextlib.suppress(Exception):  # gone or not, the entry goes stale in a few minutes anyway
            await self._entries.delete_one({"_id": self.replica})

    def can_run(self, converter: str) -> bool:
        return converter in self.converters
