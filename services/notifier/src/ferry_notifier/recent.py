"""What this replica heard lately, per file: the furthest state, and the last updates for resuming.

The files collection is written by the gateway's projection, which can lag the
events the notifier has already delivered live. A subscriber arriving in that
gap would read "parsing" from the record and never hear "parsed", so on
subscribe the notifier sends whichever is further along: the record, or the
latest state it heard here (``latest``).

The same entries keep each file's last few updates in arrival order, keyed by
event id, so an SSE client reconnecting with ``Last-Event-ID`` gets what it
missed (``since``). Everything is bounded: at most ``max_files`` files (least
recently updated evicted first), ``per_file`` updates each, and nothing older
than ``ttl`` seconds since its file's last event.

Each file is remembered with its owner and organization as the events name them,
so a member of that organization may follow it. Batches are remembered apart
(``RecentBatches``): the newest figures of each, and whether it completed.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ferry_core.events import Progress
from ferry_notifier.messages import BatchUpdate, Update


@dataclass
class _File:
    owner_id: str
    org_id: str
    latest: Progress | None = None  # None once deleted, or before a state was heard
    updates: deque[tuple[int, Update]] = field(default_factory=deque)
    touched: float = 0.0


class RecentEvents:
    """A bounded, recent memory of the file events this replica consumed."""

    def __init__(
        self,
        *,
        max_files: int = 4096,
        per_file: int = 16,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_files = max_files
        self._per_file = per_file
        self._ttl = ttl
        self._clock = clock
        self._files: OrderedDict[str, _File] = OrderedDict()  # least recently updated first
        self._position: dict[str, tuple[str, int]] = {}  # event id -> (file id, sequence number)
        # Per organization with files here: the highest sequence number of its updates
        # already forgotten, so an all-files resume from before it would have a gap.
        self._org_floor: dict[str, int] = {}
        self._org_files: dict[str, int] = {}
        self._numbers = itertools.count(1)

    def __len__(self) -> int:
        return len(self._files)

    def record(self, update: Update) -> None:
        """Remember ``update`` (one that came from an event): its state, if it moves forward, and itself."""
        self._expire()
        entry = self._files.get(update.file_id)
        if entry is None or entry.owner_id != update.owner_id or entry.org_id != update.scope:
            if entry is not None:
                self._forget(update.file_id)
            entry = self._add(update.file_id, update.owner_id, update.scope)
        else:
            self._files.move_to_end(update.file_id)
        entry.touched = self._clock()
        if update.kind == "file_deleted":
            entry.latest = None
        elif update.progress is not None and _further(update.progress, entry.latest):
            entry.latest = update.progress
        if update.event_id is not None:
            seq = next(self._numbers)
            entry.updates.append((seq, update))
            self._position[update.event_id] = (update.file_id, seq)
            if len(entry.updates) > self._per_file:
                self._drop_oldest(entry)

    def heard_of(self, file_id: str) -> tuple[str, str] | None:
        """The owner and organization the events heard here name for ``file_id``; None if none was heard."""
        self._expire()
        entry = self._files.get(file_id)
        return (entry.owner_id, entry.org_id) if entry is not None else None

    def latest(self, file_id: str, owner_id: str) -> Progress | None:
        """The furthest state heard here for ``owner_id``'s file; None if none (or not theirs)."""
        self._expire()
        entry = self._files.get(file_id)
        if entry is None or entry.owner_id != owner_id:
            return None
        return entry.latest

    def since(self, event_id: str, org_id: str, file_id: str | None = None) -> list[Update] | None:
        """The updates after ``event_id`` of one file (or all files of organization ``org_id``), oldest first.

        None when they cannot all be given: the id is unknown here (never heard, or
        already forgotten), or belongs to another organization or another file.
        """
        self._expire()
        found = self._position.get(event_id)
        if found is None:
            return None
        found_file, after = found
        entry = self._files[found_file]
        if entry.org_id != org_id or (file_id is not None and found_file != file_id):
            return None
        if file_id is not None:
            return [update for seq, update in entry.updates if seq > after]
        if self._org_floor.get(org_id, 0) > after:
            return None
        missed = [
            (seq, update)
            for each in self._files.values()
            if each.org_id == org_id
            for seq, update in each.updates
            if seq > after
        ]
        return [update for _, update in sorted(missed, key=lambda pair: pair[0])]

    # -- internals -------------------------------------------------------------------

    def _add(self, file_id: str, owner_id: str, org_id: str) -> _File:
        while len(self._files) >= self._max_files:
            self._forget(next(iter(self._files)))
        entry = _File(owner_id=owner_id, org_id=org_id)
        self._files[file_id] = entry
        self._org_files[org_id] = self._org_files.get(org_id, 0) + 1
        return entry

    def _drop_oldest(self, entry: _File) -> None:
        seq, update = entry.updates.popleft()
        if update.event_id is not None:
            self._position.pop(update.event_id, None)
        self._raise_floor(entry.org_id, seq)

    def _forget(self, file_id: str) -> None:
        entry = self._files.pop(file_id)
        for seq, update in entry.updates:
            if update.event_id is not None:
                self._position.pop(update.event_id, None)
            self._raise_floor(entry.org_id, seq)
        remaining = self._org_files[entry.org_id] - 1
        if remaining:
            self._org_files[entry.org_id] = remaining
        else:
            # No event id of this organization is known any more, so no resume can look at the floor.
            del self._org_files[entry.org_id]
            self._org_floor.pop(entry.org_id, None)

    def _raise_floor(self, org_id: str, seq: int) -> None:
        self._org_floor[org_id] = max(self._org_floor.get(org_id, 0), seq)

    def _expire(self) -> None:
        deadline = self._clock() - self._ttl
        while self._files:
            file_id, oldest = next(iter(self._files.items()))
            if oldest.touched > deadline:
                return
            self._forget(file_id)


@dataclass
class _Batch:
    latest: BatchUpdate | None = None  # the figures with the highest revision heard
    completed: BatchUpdate | None = None  # batch.completed.v1, once heard
    touched: float = 0.0


class RecentBatches:
    """A bounded memory of each batch's newest figures (highest revision wins) and its completion.

    Bounded like the files' memory: at most ``max_batches`` (least recently updated
    evicted first), none kept ``ttl`` seconds after its last event.
    """

    def __init__(
        self, *, max_batches: int = 4096, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_batches
        self._ttl = ttl
        self._clock = clock
        self._batches: OrderedDict[str, _Batch] = OrderedDict()

    def __len__(self) -> int:
        return len(self._batches)

    def record(self, update: BatchUpdate) -> None:
        self._expire()
        entry = self._batches.get(update.batch_id)
        if entry is None:
            while len(self._batches) >= self._max:
                self._batches.popitem(last=False)
            entry = self._batches[update.batch_id] = _Batch()
        else:
            self._batches.move_to_end(update.batch_id)
        entry.touched = self._clock()
        if update.kind == "batch_completed":
            entry.completed = entry.completed or update
        elif entry.latest is None or (update.revision or 0) > (entry.latest.revision or 0):
            entry.latest = update

    def known(self, batch_id: str) -> tuple[BatchUpdate | None, BatchUpdate | None] | None:
        """The newest figures and the completion heard for ``batch_id``; None if nothing was heard."""
        self._expire()
        entry = self._batches.get(batch_id)
        return (entry.latest, entry.completed) if entry is not None else None

    def _expire(self) -> None:
        deadline = self._clock() - self._ttl
        while self._batches:
            batch_id, oldest = next(iter(self._batches.items()))
            if oldest.touched > deadline:
                return
            del self._batches[batch_id]


def _further(new: Progress, old: Progress | None) -> bool:
    """Whether ``new`` is at least as far along as ``old`` (statuses only move forward)."""
    if old is None:
        return True
    if new.status.rank != old.status.rank:
        return new.status.rank > old.status.rank
    if old.status.terminal:
        return False  # the first terminal status heard stays
    return new.status != old.status or new.progress >= old.progress


def further_along(stored: Progress, heard: Progress | None) -> Progress:
    """The state to send on subscribe: the stored record, unless what was heard here is further along."""
    if heard is None:
        return stored
    if heard.status.rank > stored.status.rank:
        return heard
    if heard.status.rank == stored.status.rank and not stored.status.terminal and heard.progress > stored.progress:
        return heard
    return stored
