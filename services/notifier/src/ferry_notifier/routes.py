"""``WS /ws/{file_id}``, ``WS /ws/batches/{batch_id}``, ``WS /ws`` and ``GET /events``: live updates.

What a caller may follow is decided in ``follow``; which organization ``/ws`` means, in ``access``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Query, WebSocket

from ferry_core.readmodels import FileStateReader
from ferry_core.tokens import Principal
from ferry_notifier.access import active_org, named_org
from ferry_notifier.auth import Authenticator, credentials
from ferry_notifier.connections import Outbox
from ferry_notifier.deps import Authenticate, CurrentUser, FileStates, LocalHub, Settings
from ferry_notifier.errors import BatchNotFound, FileNotFound, InvalidRequest, NotAuthenticated, OrgNotFound
from ferry_notifier.follow import follow_batch, follow_file, follow_org
from ferry_notifier.hub import Hub
from ferry_notifier.messages import reply
from ferry_notifier.settings import NotifierSettings
from ferry_notifier.sockets import Activity, Timing, deny, receive_text, serve
from ferry_notifier.sse import EventStreamResponse

log = structlog.get_logger(__name__)

router = APIRouter(tags=["notifications"])


@router.websocket("/ws/{file_id}")
async def file_socket(
    websocket: WebSocket,
    file_id: str,
    hub: LocalHub,
    states: FileStates,
    settings: Settings,
    authenticate: Authenticate,
) -> None:
    """Updates of one file: its current state first, then every change; closed (1000) once it is deleted."""
    caller = await _handshake_caller(websocket, authenticate)
    if caller is None:
        return
    principal, subprotocol = caller
    outbox = _outbox(principal, settings, close_on_delete=True)
    try:
        if not await follow_file(hub, states, outbox, file_id):
            await deny(websocket, FileNotFound(), subprotocol)
            return
        await websocket.accept(subprotocol=subprotocol)
        activity = Activity()
        reader = _read_client(websocket, outbox, hub, states, activity, scope=None)
        await serve(websocket, outbox, reader, _timing(settings, principal), activity)
    finally:
        hub.remove(outbox)


@router.websocket("/ws/batches/{batch_id}")
async def batch_socket(
    websocket: WebSocket,
    batch_id: str,
    hub: LocalHub,
    states: FileStates,
    settings: Settings,
    authenticate: Authenticate,
) -> None:
    """Figures of one upload batch: the newest known first, then every newer one, and ``batch_completed`` once.

    A batch this replica has heard nothing of yet is followed from its next event.
    """
    caller = await _handshake_caller(websocket, authenticate)
    if caller is None:
        return
    principal, subprotocol = caller
    outbox = _outbox(principal, settings)
    try:
        if not follow_batch(hub, outbox, batch_id):
            await deny(websocket, BatchNotFound(), subprotocol)
            return
        await websocket.accept(subprotocol=subprotocol)
        activity = Activity()
        reader = _read_client(websocket, outbox, hub, states, activity, scope=None)
        await serve(websocket, outbox, reader, _timing(settings, principal), activity)
    finally:
        hub.remove(outbox)


@router.websocket("/ws")
async def files_socket(
    websocket: WebSocket, hub: LocalHub, states: FileStates, settings: Settings, authenticate: Authenticate
) -> None:
    """Updates of all files of the active organization (``?org=`` or ``X-Ferry-Org``, else the caller's own).

    The client may narrow them with ``subscribe`` messages (any file the caller may see).
    """
    caller = await _handshake_caller(websocket, authenticate)
    if caller is None:
        return
    principal, subprotocol = caller
    try:
        org_id = active_org(principal, named_org(websocket))
    except OrgNotFound as exc:
        await deny(websocket, exc, subprotocol)
        return
    outbox = _outbox(principal, settings)
    try:
        follow_org(hub, outbox, org_id)
        await websocket.accept(subprotocol=subprotocol)
        activity = Activity()
        reader = _read_client(websocket, outbox, hub, states, activity, scope=org_id)
        await serve(websocket, outbox, reader, _timing(settings, principal), activity)
    finally:
        hub.remove(outbox)


@router.get(
    "/events",
    response_class=EventStreamResponse,
    status_code=200,
    responses={
        401: {"description": "Missing or invalid access token or API key"},
        404: {"description": "No such file, batch or organization (for the caller)"},
        422: {"description": "Both file_id and batch_id given"},
    },
)
async def event_stream(
    user: CurrentUser,
    hub: LocalHub,
    states: FileStates,
    settings: Settings,
    file_id: str | None = None,
    batch_id: Annotated[str | None, Query(description="Follow one upload batch instead of files")] = None,
    org: Annotated[str | None, Query(description="The active organization (without file_id or batch_id)")] = None,
    x_ferry_org: Annotated[str | None, Header(description="The active organization; wins over `org`")] = None,
    last_event_id: Annotated[str | None, Header(description="Resume after this event (the SSE `id:`)")] = None,
) -> EventStreamResponse:
    """Server-Sent Events: ``event: <type>``, ``id: <event id>``, ``data: <the WebSocket message>``.

    Without ``file_id`` or ``batch_id``: every file of the active organization. With
    ``Last-Event-ID`` (sent by EventSource when it reconnects) a file stream starts
    with the updates missed since that event, if this replica still has them all;
    otherwise as a new stream does (a file's current state, a batch's newest figures first).
    """
    if file_id is not None and batch_id is not None:
        raise InvalidRequest("give file_id or batch_id, not both")
    outbox = _outbox(user, settings, close_on_delete=file_id is not None)
    try:
        if batch_id is not None:
            if not follow_batch(hub, outbox, batch_id):
                raise BatchNotFound()
        elif file_id is None:
            org_id = active_org(user, x_ferry_org or org)
            follow_org(hub, outbox, org_id)
            missed = hub.recent.since(last_event_id, org_id) if last_event_id else None
            if missed is not None:
                outbox.resume(missed)
        elif not await follow_file(hub, states, outbox, file_id, resume_after=last_event_id):
            raise FileNotFound()
    except BaseException:
        hub.remove(outbox)
        raise
    return EventStreamResponse(
        outbox,
        keepalive=settings.sse_keepalive_seconds,
        expires_at=user.expires_at,
        on_close=lambda: hub.remove(outbox),
    )


def _outbox(principal: Principal, settings: NotifierSettings, *, close_on_delete: bool = False) -> Outbox:
    """A connection's outbox, knowing what the caller's token lets them see."""
    return Outbox(
        principal.user_id,
        settings.ws_queue_size,
        close_on_delete=close_on_delete,
        sees_all=principal.is_admin,
        orgs=principal.orgs.keys(),
    )


async def _handshake_caller(websocket: WebSocket, authenticate: Authenticator) -> tuple[Principal, str | None] | None:
    """The verified caller and the subprotocol to accept with; None once the handshake is refused (401)."""
    found = credentials(websocket)
    try:
        principal = await authenticate(found)
    except NotAuthenticated as exc:
        await deny(websocket, exc, found.subprotocol)
        return None
    return principal, found.subprotocol


def _timing(settings: NotifierSettings, principal: Principal) -> Timing:
    return Timing(
        heartbeat=settings.ws_heartbeat_seconds,
        idle_timeout=settings.ws_idle_timeout_seconds,
        send_timeout=settings.send_timeout_seconds,
        expires_at=principal.expires_at,
    )


async def _read_client(
    websocket: WebSocket,
    outbox: Outbox,
    hub: Hub,
    states: FileStateReader,
    activity: Activity,
    *,
    scope: str | None,
) -> None:
    """Answer the client's messages: ``ping``; on ``/ws`` (``scope``: its organization) also (un)subscribe."""
    narrowed = False
    while (text := await receive_text(websocket, activity)) is not None:
        message = _parse(text)
        if message is None:
            outbox.reply(reply("error", detail="messages are JSON objects with a type"))
            continue
        kind = message.get("type")
        file_id = message.get("file_id")
        if kind == "ping":
            outbox.reply(reply("pong"))
        elif kind == "pong":
            continue
        elif kind not in ("subscribe", "unsubscribe") or scope is None:
            outbox.reply(reply("error", detail=f"unknown message type: {kind!r}"))
        elif not isinstance(file_id, str) or not file_id:
            outbox.reply(reply("error", detail=f"{kind} needs a file_id"))
        elif kind == "subscribe":
            narrowed = await _subscribe(hub, states, outbox, file_id, scope, narrowed=narrowed)
        else:
            hub.unwatch_file(outbox, file_id)
            outbox.unfollow(file_id)
            outbox.reply(reply("unsubscribed", file_id=file_id))


async def _subscribe(
    hub: Hub, states: FileStateReader, outbox: Outbox, file_id: str, scope: str, *, narrowed: bool
) -> bool:
    """Narrow ``/ws`` to the files subscribed to (any the caller may see), adding ``file_id``; whether it is now."""
    try:
        followed = await follow_file(hub, states, outbox, file_id)
    except Exception:
        log.exception("subscribe failed", file_id=file_id)
        outbox.reply(reply("error", detail="cannot read the file's state; try again", file_id=file_id))
        return narrowed
    if not followed:
        outbox.reply(reply("error", detail=FileNotFound.default_detail, file_id=file_id))
        return narrowed
    if not narrowed:
        hub.unwatch_org(outbox, scope)
    return True


def _parse(text: str) -> dict[str, Any] | None:
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
