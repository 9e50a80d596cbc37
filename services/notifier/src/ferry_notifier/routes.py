"""``WS /ws/{file_id}``, ``WS /ws`` and ``GET /events``: live updates of the caller's files."""

from __future__ import annotations

import json
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, WebSocket

from ferry_core.readmodels import FileStateReader
from ferry_core.tokens import Principal, TokenVerifier
from ferry_notifier.auth import authenticate, credentials
from ferry_notifier.connections import Outbox
from ferry_notifier.deps import CurrentUser, FileStates, LocalHub, Settings, Verifier
from ferry_notifier.errors import FileNotFound, NotAuthenticated
from ferry_notifier.hub import Hub
from ferry_notifier.messages import reply
from ferry_notifier.settings import NotifierSettings
from ferry_notifier.sockets import Activity, Timing, deny, receive_text, serve
from ferry_notifier.sse import EventStreamResponse

log = structlog.get_logger(__name__)

router = APIRouter(tags=["notifications"])


@router.websocket("/ws/{file_id}")
async def file_socket(
    websocket: WebSocket, file_id: str, hub: LocalHub, states: FileStates, settings: Settings, verifier: Verifier
) -> None:
    """Updates of one file: its current state first, then every change; closed (1000) once it is deleted."""
    caller = await _handshake_caller(websocket, verifier)
    if caller is None:
        return
    principal, subprotocol = caller
    outbox = Outbox(principal.user_id, settings.ws_queue_size, close_on_delete=True, sees_all=principal.is_admin)
    try:
        if not await follow_file(hub, states, outbox, file_id):
            await deny(websocket, FileNotFound(), subprotocol)
            return
        await websocket.accept(subprotocol=subprotocol)
        activity = Activity()
        reader = _read_client(websocket, outbox, hub, states, activity, all_files=False)
        await serve(websocket, outbox, reader, _timing(settings, principal), activity)
    finally:
        hub.remove(outbox)


@router.websocket("/ws")
async def files_socket(
    websocket: WebSocket, hub: LocalHub, states: FileStates, settings: Settings, verifier: Verifier
) -> None:
    """Updates of all the caller's files, until the client narrows them with ``subscribe`` messages."""
    caller = await _handshake_caller(websocket, verifier)
    if caller is None:
        return
    principal, subprotocol = caller
    outbox = Outbox(principal.user_id, settings.ws_queue_size, sees_all=principal.is_admin)
    try:
        hub.watch_owner(outbox, principal.user_id)
        await websocket.accept(subprotocol=subprotocol)
        activity = Activity()
        reader = _read_client(websocket, outbox, hub, states, activity, all_files=True)
        await serve(websocket, outbox, reader, _timing(settings, principal), activity)
    finally:
        hub.remove(outbox)


@router.get(
    "/events",
    response_class=EventStreamResponse,
    status_code=200,
    responses={401: {"description": "Missing or invalid access token"}, 404: {"description": "No such file"}},
)
async def event_stream(
    user: CurrentUser,
    hub: LocalHub,
    states: FileStates,
    settings: Settings,
    file_id: str | None = None,
    last_event_id: Annotated[str | None, Header(description="Resume after this event (the SSE `id:`)")] = None,
) -> EventStreamResponse:
    """Server-Sent Events: ``event: <type>``, ``id: <event id>``, ``data: <the WebSocket message>``.

    With ``Last-Event-ID`` (sent by EventSource when it reconnects) the stream starts
    with the updates missed since that event, if this replica still has them all;
    otherwise as a new stream does (a file's current state first).
    """
    outbox = Outbox(user.user_id, settings.ws_queue_size, close_on_delete=file_id is not None, sees_all=user.is_admin)
    try:
        if file_id is None:
            hub.watch_owner(outbox, user.user_id)
            missed = hub.recent.since(last_event_id, user.user_id) if last_event_id else None
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


async def follow_file(
    hub: Hub, states: FileStateReader, outbox: Outbox, file_id: str, *, resume_after: str | None = None
) -> bool:
    """Follow one of the caller's files (any file, for an admin), its current state first; False if it is not.

    The subscription is registered before the state is read, so an event published
    meanwhile is held back and sent after the state instead of falling in between.
    What this replica heard of the file (and, resuming, the updates missed since
    ``resume_after``) is taken in the same step, so nothing is sent twice.
    """
    hub.watch_file(outbox, file_id)
    outbox.open(file_id)
    # Heard under the owner the events name; used only if the record agrees (an admin may follow any file).
    heard_owner = hub.recent.owner_of(file_id)
    heard = hub.recent.latest(file_id, heard_owner) if heard_owner else None
    missed = hub.recent.since(resume_after, heard_owner, file_id) if heard_owner and resume_after else None
    try:
        found = await states.current(file_id)
    except BaseException:
        _forget(hub, outbox, file_id)
        raise
    if found is None or (found[0] != outbox.user_id and not outbox.sees_all):
        _forget(hub, outbox, file_id)
        return False
    if found[0] != heard_owner:
        heard, missed = None, None
    outbox.opened(file_id, found[1], heard=heard, missed=missed)
    return True


def _forget(hub: Hub, outbox: Outbox, file_id: str) -> None:
    hub.unwatch_file(outbox, file_id)
    outbox.abandon(file_id)


async def _handshake_caller(websocket: WebSocket, verifier: TokenVerifier) -> tuple[Principal, str | None] | None:
    """The verified caller and the subprotocol to accept with; None once the handshake is refused (401)."""
    found = credentials(websocket)
    try:
        principal = await authenticate(verifier, found)
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
    websocket: WebSocket, outbox: Outbox, hub: Hub, states: FileStateReader, activity: Activity, *, all_files: bool
) -> None:
    """Answer the client's messages: ``ping``; on ``/ws`` also ``subscribe`` / ``unsubscribe``."""
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
        elif kind not in ("subscribe", "unsubscribe") or not all_files:
            outbox.reply(reply("error", detail=f"unknown message type: {kind!r}"))
        elif not isinstance(file_id, str) or not file_id:
            outbox.reply(reply("error", detail=f"{kind} needs a file_id"))
        elif kind == "subscribe":
            narrowed = await _subscribe(hub, states, outbox, file_id, narrowed=narrowed)
        else:
            hub.unwatch_file(outbox, file_id)
            outbox.unfollow(file_id)
            outbox.reply(reply("unsubscribed", file_id=file_id))


async def _subscribe(hub: Hub, states: FileStateReader, outbox: Outbox, file_id: str, *, narrowed: bool) -> bool:
    """Narrow ``/ws`` to the files subscribed to, adding ``file_id``; whether the socket is narrowed now."""
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
        hub.unwatch_owner(outbox, outbox.user_id)
    return True


def _parse(text: str) -> dict[str, Any] | None:
    try:
        message = json.loads(text)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
