"""What a connection follows: one file, one batch, or an organization's files; each with what is known first.

Access is decided here, from the caller's token (``Outbox.may_see``): the owner, a
member of the thing's organization, or a platform admin. Anyone else is told it
does not exist, exactly as for an id that names nothing.
"""

from __future__ import annotations

from ferry_core.orgs import personal_org_id
from ferry_core.readmodels import FileStateReader
from ferry_notifier.connections import Outbox
from ferry_notifier.hub import Hub


def follow_org(hub: Hub, outbox: Outbox, org_id: str) -> None:
    """Follow every file of an organization the caller may see (checked by ``access.active_org``)."""
    hub.watch_org(outbox, org_id)
    outbox.follow_org(org_id)


async def follow_file(
    hub: Hub, states: FileStateReader, outbox: Outbox, file_id: str, *, resume_after: str | None = None
) -> bool:
    """Follow a file the caller may see, its current state first; False if there is no such file for them.

    The subscription is registered before the state is read, so an event published
    meanwhile is held back and sent after the state instead of falling in between.
    What this replica heard of the file (and, resuming, the updates missed since
    ``resume_after``) is taken in the same step, so nothing is sent twice.
    """
    hub.watch_file(outbox, file_id)
    outbox.open(file_id)
    # Heard under the owner and organization the events name; used only if the record agrees.
    heard_owner, heard_org = hub.recent.heard_of(file_id) or (None, None)
    heard = hub.recent.latest(file_id, heard_owner) if heard_owner else None
    missed = hub.recent.since(resume_after, heard_org, file_id) if heard_org and resume_after else None
    try:
        found = await states.current(file_id)
    except BaseException:
        _forget(hub, outbox, file_id)
        raise
    if found is None:
        _forget(hub, outbox, file_id)
        return False
    # The record names the organization; one written before organizations belongs to the owner's personal one.
    org_id = found.org_id or (heard_org if found.owner_id == heard_owner else None) or personal_org_id(found.owner_id)
    if not outbox.may_see(found.owner_id, org_id):
        _forget(hub, outbox, file_id)
        return False
    if (found.owner_id, org_id) != (heard_owner, heard_org):
        heard, missed = None, None
    outbox.opened(file_id, found.progress, heard=heard, missed=missed)
    return True


def follow_batch(hub: Hub, outbox: Outbox, batch_id: str) -> bool:
    """Follow a batch, its newest known figures (and completion) first; False if it is known to be someone else's.

    Batches live in the gateway, not here: a replica knows a batch only from its
    events. One it has heard nothing of yet (a fresh replica, an idle batch) is
    followed from its next event, and the connection is closed as not found if that
    event shows the batch is not the caller's to see. Nothing is awaited, so no
    event can fall between the state and the subscription.
    """
    latest, completed = hub.batches.known(batch_id) or (None, None)
    sample = latest or completed
    if sample is not None and not outbox.may_see(sample.owner_id, sample.scope):
        return False
    hub.watch_batch(outbox, batch_id)
    outbox.follow_batch(batch_id, latest, completed)
    return True


def _forget(hub: Hub, outbox: Outbox, file_id: str) -> None:
    hub.unwatch_file(outbox, file_id)
    outbox.abandon(file_id)
