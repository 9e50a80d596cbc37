"""One subscriber's outgoing side: a bounded queue the fan-out never waits on.

The hub only calls ``Outbox.offer``, which never blocks; each connection drains
its own outbox with ``next()`` in its own task. When the queue is full, progress
updates are coalesced (the latest per file wins) while status updates, deletions
and replies are always kept; a connection that falls a whole queue behind on
those is closed with 1013 ("try again later") instead of growing without bound.
Batch figures are snapshots and coalesce the same way (the newest revision wins);
a batch's completion is always kept, and sent once. A running job's progress
coalesces per job; nothing of a job is sent after its end.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Collection

from ferry_core.events import JOB_TERMINAL, Progress
from ferry_core.orgs import personal_org_id
from ferry_notifier.messages import (
    BatchUpdate,
    Broadcast,
    Close,
    JobUpdate,
    Outgoing,
    Reply,
    Update,
    WebhookNotice,
    batch_completed,
    file_deleted,
    status_update,
)
from ferry_notifier.metrics import COALESCED, DISCONNECTS, DROPPED
from ferry_notifier.recent import further_along

CLOSE_FILE_DELETED = Close(1000, "file deleted")
CLOSE_TOO_SLOW = Close(1013, "consumer too slow")
CLOSE_BATCH_NOT_FOUND = Close(4404, "batch not found")
_ENDED_JOBS_KEPT = 1024
"""Ended jobs a connection remembers, to drop their late progress (older ones are long past it)."""


class _BatchView:
    """What a connection has sent of one batch: the newest revision, and whether its completion."""

    def __init__(self) -> None:
        self.revision = -1
        self.completed = False


class Outbox:
    """What one connection still has to send, and what it has told its client so far."""

    def __init__(
        self,
        user_id: str,
        maxsize: int,
        *,
        close_on_delete: bool = False,
        sees_all: bool = False,
        orgs: Collection[str] = (),
    ) -> None:
        self.user_id = user_id
        self.sees_all = sees_all
        """A platform admin's connection: it may follow any file or batch by id."""
        self._member_of = {personal_org_id(user_id), *orgs}
        self._scopes: set[str] = set()  # organizations whose files this connection follows (``/ws``)
        self._batches: dict[str, _BatchView] = {}
        self._followed: set[str] = set()
        self._maxsize = maxsize
        self._close_on_delete = close_on_delete
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue(maxsize)
        # Spill-over once the queue is full, in arrival order; a progress update is keyed
        # by its file so a newer one replaces it, everything else by a running number.
        self._overflow: dict[object, Outgoing] = {}
        self._overflow_required = 0
        self._numbers = itertools.count()
        self._opening: dict[str, list[Update]] = {}
        self._excluded: set[str] = set()
        self._last: dict[str, Progress] = {}
        self._deleted: set[str] = set()
        self._ended_jobs: OrderedDict[str, None] = OrderedDict()
        self._closing = False

    # -- called by the hub and the connection's handler --------------------------------

    def may_see(self, owner_id: str, org_id: str) -> bool:
        """Whether the caller may follow a file or batch of ``owner_id`` in ``org_id``.

        Their own, one of an organization their token lists, or any for a platform admin.
        """
        return owner_id == self.user_id or self.sees_all or org_id in self._member_of

    def follow_org(self, org_id: str) -> None:
        """Take the updates of every file of ``org_id`` (the hub routes them here; ``/ws``)."""
        self._scopes.add(org_id)

    def offer(self, update: Broadcast) -> None:
        """Queue ``update`` if this connection should see it; never blocks."""
        if isinstance(update, BatchUpdate):
            self._offer_batch(update)
            return
        if isinstance(update, WebhookNotice):
            if not self._closing and update.owner_id == self.user_id and update.scope in self._scopes:
                self._put(update)
            return
        if self._closing or update.file_id in self._excluded:
            return
        if update.file_id not in self._followed and update.scope not in self._scopes:
            return
        if isinstance(update, JobUpdate):
            self._offer_job(update)
            return
        buffer = self._opening.get(update.file_id)
        if buffer is not None:
            buffer.append(update)
            return
        self._admit(update)

    def open(self, file_id: str) -> None:
        """Start following ``file_id``: hold its updates until ``opened`` gives the current state."""
        self._excluded.discard(file_id)
        self._followed.add(file_id)
        self._opening.setdefault(file_id, [])

    def opened(
        self,
        file_id: str,
        current: Progress,
        *,
        heard: Progress | None = None,
        missed: list[Update] | None = None,
    ) -> None:
        """Send the file's current state first, then the updates that arrived while it was read.

        ``current`` is the stored record; ``heard`` the latest state this replica heard
        in events, sent instead when it is further along (the record lags the events).
        ``missed`` (a resume) replaces the state: the updates the client missed, in order.
        """
        buffered = self._opening.pop(file_id, [])
        if missed is not None:
            for update in missed:
                self._admit(update)
        elif file_id in self._deleted:
            self._put(file_deleted(self.user_id, file_id))
            if self._close_on_delete:
                self._put(CLOSE_FILE_DELETED)
        else:
            state = status_update(self.user_id, further_along(current, heard))
            if not self._advances(state):
                # This connection already sent something newer than the stored record says
                # (the record lags the events): repeat that rather than step back.
                state = status_update(self.user_id, self._last[file_id])
            self._put(state)
        for update in buffered:
            self.offer(update)

    def follow_batch(self, batch_id: str, latest: BatchUpdate | None, completed: BatchUpdate | None) -> None:
        """Follow a batch the caller may see (or that nothing is known of yet): what is known of it first."""
        self._batches.setdefault(batch_id, _BatchView())
        for known in (latest, completed):
            if known is not None:
                self._offer_batch(known)

    def abandon(self, file_id: str) -> None:
        """Forget a file whose ``open`` did not lead anywhere (not found, not the caller's)."""
        self._opening.pop(file_id, None)
        self._followed.discard(file_id)

    def unfollow(self, file_id: str) -> None:
        """Stop sending updates of ``file_id``, also those reaching this connection by owner."""
        self._opening.pop(file_id, None)
        self._followed.discard(file_id)
        self._excluded.add(file_id)
        self._last.pop(file_id, None)

    def reply(self, message: Reply) -> None:
        if not self._closing:
            self._put(message)

    def resume(self, missed: list[Update]) -> None:
        """Send the updates a reconnecting client missed (all its files), oldest first."""
        for update in missed:
            self.offer(update)

    def end(self, close: Close) -> None:
        """Close the connection next, whatever is still waiting (token expired, idle)."""
        if self._closing:
            return
        self._drop_pending()
        self._closing = True
        self._queue.put_nowait(close)

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def pending(self) -> int:
        """How many messages wait to be sent."""
        return self._queue.qsize() + len(self._overflow)

    async def next(self) -> Outgoing:
        """The next message to send; waits until there is one."""
        item = await self._queue.get()
        self._refill()
        return item

    # -- internals -------------------------------------------------------------------

    def _offer_batch(self, update: BatchUpdate) -> None:
        view = self._batches.get(update.batch_id)
        if self._closing or view is None:
            return
        if not self.may_see(update.owner_id, update.scope):
            # Followed before anything was known of it, and it turns out to be someone else's.
            DROPPED.labels("not_allowed").inc()
            self.end(CLOSE_BATCH_NOT_FOUND)
            return
        if update.kind == "batch_completed":
            if not view.completed:
                view.completed = True
                self._put(update)
            return
        if (update.revision or 0) <= view.revision:
            DROPPED.labels("stale").inc()
            return
        view.revision = update.revision or 0
        self._put(update)
        if update.complete and not view.completed:
            view.completed = True
            self._put(batch_completed(update.batch_id, update.owner_id, update.org_id, update.counts))

    def _offer_job(self, update: JobUpdate) -> None:
        if update.job_id in self._ended_jobs or update.file_id in self._deleted:
            DROPPED.labels("stale").inc()  # progress behind the end, or an end heard twice
            return
        if update.status in JOB_TERMINAL:
            self._ended_jobs[update.job_id] = None
            if len(self._ended_jobs) > _ENDED_JOBS_KEPT:
                self._ended_jobs.popitem(last=False)
        self._put(update)

    def _admit(self, update: Update) -> None:
        if not self._advances(update):
            DROPPED.labels("stale").inc()
            return
        self._put(update)
        if update.kind == "file_deleted" and self._close_on_delete:
            self._put(CLOSE_FILE_DELETED)

    def _advances(self, update: Update) -> bool:
        """Whether ``update`` moves this connection's view of its file forward (and note it if so)."""
        file_id, new = update.file_id, update.progress
        if file_id in self._deleted:
            return False
        if new is None:
            self._deleted.add(file_id)
            self._last.pop(file_id, None)
            return True
        last = self._last.get(file_id)
        if last is not None:
            if new.status.rank < last.status.rank or (last.status.terminal and new.status == last.status):
                return False  # behind, or the terminal status it already sent (heard twice)
            if update.kind == "progress_update" and (
                last.status.terminal or (new.status == last.status and new.progress < last.progress)
            ):
                return False
        self._last[file_id] = new
        return True

    def _put(self, item: Outgoing) -> None:
        if isinstance(item, Close):
            self._closing = True
        if not self._overflow:
            try:
                self._queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                pass
        self._spill(item)

    def _spill(self, item: Outgoing) -> None:
        key = _coalescing_key(item)
        if key is not None:
            if key in self._overflow:
                COALESCED.inc()
            self._overflow[key] = item
            return
        if isinstance(item, Update) and self._overflow.pop(("progress", item.file_id), None) is not None:
            COALESCED.inc()  # the status update supersedes the progress before it
        if self._overflow_required >= self._maxsize:
            self._give_up()
            return
        self._overflow_required += 1
        self._overflow[next(self._numbers)] = item

    def _refill(self) -> None:
        while self._overflow and not self._queue.full():
            item = self._overflow.pop(next(iter(self._overflow)))
            if _coalescing_key(item) is None:
                self._overflow_required -= 1
            self._queue.put_nowait(item)

    def _give_up(self) -> None:
        DROPPED.labels("slow_consumer").inc(self._drop_pending())
        DISCONNECTS.labels("slow_consumer").inc()
        self._closing = True
        self._queue.put_nowait(CLOSE_TOO_SLOW)

    def _drop_pending(self) -> int:
        dropped = self._queue.qsize() + len(self._overflow)
        while not self._queue.empty():
            self._queue.get_nowait()
        self._overflow.clear()
        self._overflow_required = 0
        return dropped


def _coalescing_key(item: Outgoing) -> tuple[str, str] | None:
    """What a newer message replaces this one under while it waits unsent; None: it is always sent."""
    if isinstance(item, Update) and item.coalescable:
        return ("progress", item.file_id)
    if isinstance(item, BatchUpdate) and item.coalescable:
        return ("batch", item.batch_id)
    if isinstance(item, JobUpdate) and item.coalescable:
        return ("job", item.job_id)
    return None
