"""``ferry upload``: several files at once, a live bar each — bytes sent, then parsing — and what became of them.

Files above the SDK's resumable threshold go by tus; the resume store in the config
folder lets the same command, run again after a crash or a lost network, go on from
where the server stopped instead of from byte 0.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn

from ferry_launcher import credentials, render
from ferry_sdk import AsyncFerryClient, FerryError, FileRecord, Forbidden, ResumeStore, TransportError, Unauthorized

CONCURRENT_UPLOADS = 4
FAILED = ("refused", "interrupted", "failed", "cancelled")
RESUME_STORE = "uploads.json"


def resume_store() -> ResumeStore:
    """Where unfinished resumable uploads are remembered: beside the session, in the config folder."""
    return ResumeStore(credentials.config_dir() / RESUME_STORE)


@dataclass
class Outcome:
    """What became of one path given to ``ferry upload``."""

    path: str
    status: str = "pending"
    record: FileRecord | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    def row(self) -> dict[str, Any]:
        r = self.record
        return {
            "path": self.path,
            "file_id": r.file_id if r else None,
            "status": self.status,
            "format": r.format if r else None,
            "size": r.size if r else None,
            "content": render.extent(r) if r else None,
            "detail": self.detail,
        }

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"path": self.path, "status": self.status}
        if self.record is not None:
            body["file"] = self.record.model_dump(mode="json")
        if self.detail:
            body["detail"] = self.detail
        return body


class _Bars:
    """One bar per file, or nothing (``--json``)."""

    def __init__(self, console: Console | None) -> None:
        columns = (
            TextColumn("{task.description}"),
            TextColumn("{task.fields[stage]:<9}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
        )
        self.progress = Progress(*columns, console=console, transient=False) if console else None

    def add(self, name: str, total: int) -> TaskID | None:
        if self.progress is None:
            return None
        return self.progress.add_task(name, total=total or 1, stage="upload", detail="")

    def update(self, task: TaskID | None, **fields: Any) -> None:
        if self.progress is not None and task is not None:
            self.progress.update(task, **fields)


async def upload_all(
    client: AsyncFerryClient, paths: list[Path], *, watch: bool, console: Console | None, analyze: bool = False
) -> list[Outcome]:
    """Upload (and with ``watch``, follow to the end) every path; bars on ``console`` unless None.

    ``analyze``: each file's analysis starts once it is parsed.
    """
    bars = _Bars(console)
    outcomes = [Outcome(str(path)) for path in paths]
    gate = asyncio.Semaphore(CONCURRENT_UPLOADS)
    sizes = [path.stat().st_size for path in paths]

    async def one(path: Path, outcome: Outcome, total: int) -> None:
        task = bars.add(path.name, total)
        async with gate:
            await _upload(client, path, outcome, bars, task, total, analyze)
        if watch and outcome.record is not None:
            await _follow(client, outcome, bars, task)

    if bars.progress is not None:
        bars.progress.start()
    try:
        await asyncio.gather(*(one(*args) for args in zip(paths, outcomes, sizes, strict=True)))
    finally:
        if bars.progress is not None:
            bars.progress.stop()
    return outcomes


async def _upload(
    client: AsyncFerryClient,
    path: Path,
    outcome: Outcome,
    bars: _Bars,
    task: TaskID | None,
    total: int,
    analyze: bool = False,
) -> None:
    def sent(done: int, size: int) -> None:
        bars.update(task, completed=done, detail=f"{render.size(done)}/{render.size(size)}")

    try:
        record = await client.upload(path, on_progress=sent, analyze=analyze)
    except (Unauthorized, Forbidden):
        raise
    except FerryError as exc:
        if isinstance(exc, TransportError) or (exc.status_code or 0) >= 500:
            # Retries are spent. A resumable (tus) upload keeps what reached the server for a later run;
            # a one-shot upload starts again.
            outcome.status = "interrupted"
            again = "resume it" if total > client.resumable_threshold else "try again"
            outcome.detail = f"{exc.detail} (run the same upload again to {again})"
        else:
            outcome.status, outcome.detail = "refused", f"{exc.status_code or ''} {exc.detail}".strip()
        bars.update(task, stage=outcome.status, detail=str(exc.detail))
        return
    outcome.record, outcome.status = record, str(record.status)
    bars.update(task, completed=total or 1, stage=str(record.status), detail=render.size(total))


RECORD_SETTLE_SECONDS = 30.0


async def _follow(client: AsyncFerryClient, outcome: Outcome, bars: _Bars, task: TaskID | None) -> None:
    """Move the bar with the notifier's messages until the file is done, then read its final record."""
    assert outcome.record is not None
    file_id = outcome.record.file_id
    bars.update(task, total=100, completed=0, stage=str(outcome.record.status), detail="")
    async for message in client.watch(file_id):
        progress = message.progress
        if progress is None:
            continue
        detail = f"rows {progress.rows_done}" if progress.rows_done else ""
        if progress.pages_done:
            detail = f"pages {progress.pages_done}/{progress.pages_total or '?'}"
        bars.update(task, completed=progress.progress, stage=str(progress.status), detail=detail)
    # The notifier may announce the end before the gateway's record shows it (each follows the
    # events on its own): wait the short moment for the record, whose summary the table shows.
    record = await client.wait(file_id, timeout=RECORD_SETTLE_SECONDS, interval=0.05)
    outcome.record, outcome.status = record, str(record.status)
    if record.error is not None:
        outcome.detail = f"{record.error.code}: {record.error.message}"
    bars.update(task, completed=100, stage=outcome.status, detail=render.extent(record))
