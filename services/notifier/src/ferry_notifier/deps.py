"""Request dependencies, declared once so handler signatures read like declarations."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends
from starlette.requests import HTTPConnection, Request

from ferry_core.readmodels import FileStateReader
from ferry_core.tokens import Principal, TokenVerifier
from ferry_notifier.auth import authenticate, credentials
from ferry_notifier.hub import Hub
from ferry_notifier.settings import NotifierSettings


def _hub(connection: HTTPConnection) -> Hub:
    return cast(Hub, connection.app.state.hub)


def _file_states(connection: HTTPConnection) -> FileStateReader:
    return cast(FileStateReader, connection.app.state.file_states)


def _settings(connection: HTTPConnection) -> NotifierSettings:
    return cast(NotifierSettings, connection.app.state.settings)


def _verifier(connection: HTTPConnection) -> TokenVerifier:
    return cast(TokenVerifier, connection.app.state.verifier)


LocalHub = Annotated[Hub, Depends(_hub)]
FileStates = Annotated[FileStateReader, Depends(_file_states)]
Settings = Annotated[NotifierSettings, Depends(_settings)]
Verifier = Annotated[TokenVerifier, Depends(_verifier)]


async def _current_user(request: Request, verifier: Verifier) -> Principal:
    return await authenticate(verifier, credentials(request))


# For HTTP routes only: a WebSocket refuses its handshake itself (see ``sockets.deny``).
CurrentUser = Annotated[Principal, Depends(_current_user)]
