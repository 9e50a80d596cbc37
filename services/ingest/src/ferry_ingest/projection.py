"""Consumes status events into file records, and deletes a deleted user's files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from ferry_core.bus import Bus, Subscription
from ferry_core.events import Envelope, FileFailed, FileParsed, FileProgress, UserDeleted
from ferry_core.observability import EVENTS_CONSUMED, bind_correlation
from ferry_ingest.batch_progress import BatchProgressPublisher
from ferry_ingest.batches import BatchesRepository
from ferry_ingest.files import FilesRepository

log = structlog.get_logger(__name__)

STATUS_QUEUE = "ferry.ingest.file-status"
USERS_QUEUE = "ferry.ingest.user-deleted"

DeleteFile = Callable[[str, str, str], Awaitable[None]]  # file id, owner id, organization id


# What the gateway itself announces that leaves a file terminal, or gone, for its batch.
_SETTLING = {"file.failed.v1", "file.cancelled.v1", "file.deleted.v1"}


class StatusProjection:
    """Applies status events to file records; a file that becomes terminal may complete its batch.

    The batch is checked after every terminal event, applied or not, so a redelivery after a
    crash between the two still completes it (the completion itself happens once); the same
    goes for the analysis an upload asked for, started when its file is parsed.
    """

    def __init__(
        self,
        repo: FilesRepository,
        batches: BatchesRepository,
        announced: Callable[[], None] | None = None,
        progress: BatchProgressPublisher | None = None,
        parsed: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._repo = repo
        self._parsed = parsed  # starts the analysis an upload asked for (analyze=true)
        self._batches = batches
        self._announced = announced  # wakes the outbox relay when a batch completes
        self._progress = progress  # announces the figures of the file's batch (batch.progress.v1)

    async def handle(self, envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        payload = envelope.payload()
        if isinstance(payload, FileProgress):
            await self._repo.apply_progress(payload)
            await self.file_moved(payload.file_id, terminal=False)
        elif isinstance(payload, FileParsed | FileFailed):
            if isinstance(payload, FileParsed):
                await self._repo.apply_parsed(payload)
                if self._parsed is not None:  # applied or redelivered: a crash before this is repaired
                    await self._parsed(payload.file_id)
            else:
                await self._repo.apply_failed(payload)
            await self.file_moved(payload.file_id, terminal=True)
        EVENTS_CONSUMED.labels("ingest", envelope.type, "ok").inc()

    async def gateway_events_sent(self, file_id: str, types: set[str]) -> None:
        """The relay published what the gateway owed for a file (uploaded, cancelled, failed by it, deleted)."""
        await self.file_moved(file_id, terminal=bool(types & _SETTLING))

    async def file_moved(self, file_id: str, *, terminal: bool) -> None:
        """A file's status moved: its batch's figures go out, and one that became terminal may complete the batch.

        The figures come first, so a batch's final ones reach the bus ahead of its completion.
        """
        if self._progress is not None:
            await self._progress.file_changed(file_id, settled=terminal)
        if terminal and await self._batches.settle_file(file_id) and self._announced:
            self._announced()


class UserCleanup:
    """On ``user.deleted.v1``, delete every file of that user (blobs and parsed data follow)."""

    def __init__(self, repo: FilesRepository, delete_file: DeleteFile) -> None:
        self._repo = repo
        self._delete_file = delete_file

    async def handle(self, envelope: Envelope) -> None:
        bind_correlation(envelope.correlation_id)
        payload = envelope.payload()
        assert isinstance(payload, UserDeleted)
        files = await self._repo.of_owner(payload.user_id)
        for file_id, org_id in files:
            await self._delete_file(file_id, payload.user_id, org_id)
        log.info("deleted files of a deleted user", user_id=payload.user_id, files=len(files))
        EVENTS_CONSUMED.labels("ingest", envelope.type, "ok").inc()


async def subscribe(bus: Bus, projection: StatusProjection, cleanup: UserCleanup) -> list[Subscription]:
    return [
        await bus.subscribe(
            STATUS_QUEUE, ["file.progress.v1", "file.parsed.v1", "file.failed.v1"], projection.handle, prefetch=16
        ),
        await bus.subscribe(USERS_QUEUE, ["user.deleted.v1"], cleanup.handle, prefetch=1),
    ]
