"""Request dependencies, declared once so handler signatures read like declarations."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends
from starlette.requests import HTTPConnection, Request

from ferry_core.readmodels import FileStateReader
from ferry_core.tokens import Principal
from ferry_notifier.auth import Authenticator, credentials
from ferry_notifier.hub import Hub
from ferry_notifier.settings import NotifierSettings


def _hub(connection: HTTPConnection) -> Hub:
    return cast(Hub, connection.app.state.hub)


def _file_states(connection: HTTPConnection) -> FileStateReader:
    return cast(FileStateReader, connection.app.state.file_states)


def _settings(connection: HTTPConnection) -> NotifierSettings:
    return cast(NotifierSettings, connection.app.state.settings)


def _authenticator(connection: HTTPConnection) -> Authenticator:
    return cast(Authenticator, connection.app.state.authenticator)


LocalHub = Annotated[Hub, Depends(_hub)]
FileStates = Annotated[FileStateReader, Depends(_file_states)]
Settings = Annotated[NotifierSettings, Depends(_settings)]
Authenticate = Annotated[Authenticator, Depends(_authenticator)]


async def _current_user(request: Request, authenticate: Authenticate) -> Principal:
    return await authenticate(credentials(request))


# For HTTP routes only: a WebSocket refuses its handshake itself (see ``sockets.deny``).
CurrentUser = Annotated[Principal, Depends(_current_user)]
