"""What the sync and the async client share: where to send, which credentials, when to refresh."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus
from websockets.typing import Subprotocol

from ferry_core.orgs import ORG_HEADER, ORG_QUERY
from ferry_sdk import _tus
from ferry_sdk._calls import Call
from ferry_sdk._multipart import ProgressCallback
from ferry_sdk._tus import DEFAULT_CHUNK_SIZE, DEFAULT_RESUMABLE_THRESHOLD, DEFAULT_UPLOAD_RETRIES, TusPlan
from ferry_sdk.errors import FerryError, TransportError, Unauthorized, error_for
from ferry_sdk.models import Message
from ferry_sdk.resume import ResumeStore, fingerprint
from ferry_sdk.tokens import DEFAULT_REFRESH_MARGIN, Tokens, _claims

DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = "ferry-sdk/0.1.0"
TokensCallback = Callable[[Tokens | None], object]


@dataclass(frozen=True)
class UploadOptions:
    """The keyword options of ``upload()`` that both ways of uploading share."""

    filename: str | None = None
    content_type: str | None = None
    project_id: str | None = None
    batch_id: str | None = None
    analyze: bool = False
    idempotency_key: str | None = None

    @property
    def described(self) -> tuple[str | None, str | None, str | None, str | None, bool]:
        return self.filename, self.content_type, self.project_id, self.batch_id, self.analyze


class ClientBase:
    """Configuration of a client; see ``FerryClient`` for the parameters."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        tokens: Tokens | None = None,
        api_key: str | None = None,
        auth_url: str | None = None,
        ws_url: str | None = None,
        timeout: float = 60.0,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        on_tokens: TokensCallback | None = None,
        org: str | None = None,
        resumable_threshold: int = DEFAULT_RESUMABLE_THRESHOLD,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        upload_retries: int = DEFAULT_UPLOAD_RETRIES,
        resume_store: ResumeStore | str | os.PathLike[str] | None = None,
    ) -> None:
        if chunk_size < 1 or resumable_threshold < 0 or upload_retries < 0:
            raise ValueError("chunk_size must be positive, resumable_threshold and upload_retries not negative")
        self.url = url.rstrip("/")
        self.auth_url = (auth_url or url).rstrip("/")
        base_ws = (ws_url or url).rstrip("/")
        self.ws_url = base_ws.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        # The notifier also serves /webhooks over HTTP, at the same origin as its sockets.
        self.notifier_url = self.ws_url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
        self.api_key = api_key
        self.timeout = timeout
        self.refresh_margin = refresh_margin
        self._tokens = tokens
        self._on_tokens = on_tokens
        self.org = org
        """The active organization of files, projects, batches, analytics and watches (None: the personal one)."""
        self.resumable_threshold = resumable_threshold
        self.chunk_size = chunk_size
        self.upload_retries = upload_retries
        self.resume_store = resume_store if isinstance(resume_store, ResumeStore | None) else ResumeStore(resume_store)

    @property
    def tokens(self) -> Tokens | None:
        """The current tokens (they change when the client refreshes them)."""
        return self._tokens

    def _set_tokens(self, tokens: Tokens | None) -> None:
        self._tokens = tokens
        if self._on_tokens is not None:
            self._on_tokens(tokens)

    @property
    def _access_token(self) -> str | None:
        return self._tokens.access_token if self._tokens is not None else None

    def _can_refresh(self) -> bool:
        return self._tokens is not None and self._tokens.refresh_token is not None

    def _refresh_due(self) -> bool:
        return self._tokens is not None and self._tokens.due(self.refresh_margin)

    def _retry_after_refresh(self, response: httpx.Response, call: Call[Any]) -> bool:
        """Whether a 401 may be cured by refreshing the tokens (then the call is sent once more)."""
        return response.status_code == 401 and call.authenticated and self._can_refresh()

    def _credentials(self) -> dict[str, str]:
        if self._tokens is not None:
            return {"Authorization": f"Bearer {self._tokens.access_token}"}
        if self.api_key is not None:
            return {"X-API-Key": self.api_key}
        return {}

    def _request(self, call: Call[Any]) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client.build_request`` (without an upload body)."""
        base = {"auth": self.auth_url, "notifier": self.notifier_url}.get(call.service, self.url)
        headers = {"User-Agent": USER_AGENT}
        if call.authenticated:
            headers.update(self._credentials())
        if call.service in ("files", "notifier") and self.org is not None:
            headers[ORG_HEADER] = self.org
        if call.upload is not None:
            headers.update(call.upload.headers)
        headers.update(call.headers or {})
        return {
            "method": call.method,
            "url": base + call.path,
            "params": call.params,
            "json": call.json,
            "headers": headers,
        }

    def _tus_plan(
        self,
        path: str | os.PathLike[str],
        on_progress: ProgressCallback | None,
        options: UploadOptions,
        resumable: bool | None,
    ) -> TusPlan | None:
        """How ``upload()`` sends this file by tus, or None when it goes in one ``POST /files``."""
        resolved, size, mtime_ns = _tus.file_stat(path)
        if not _tus.wants_tus(size, self.resumable_threshold, resumable, options.idempotency_key):
            return None
        pairs = _tus.metadata(resolved, *options.described)
        key = fingerprint(self.url, self._who(), self.org, resolved, size, mtime_ns)
        return TusPlan(
            resolved, size, pairs, self.chunk_size, self.upload_retries, on_progress, self.url, self.resume_store, key
        )

    def _tus_key(self, path: str | os.PathLike[str]) -> str:
        """The resume store's key of ``path`` as it is now, for this client's server, user and organization."""
        resolved, size, mtime_ns = _tus.file_stat(path)
        return fingerprint(self.url, self._who(), self.org, resolved, size, mtime_ns)

    def _who(self) -> str:
        """Whose uploads these are, for the resume store: the token's subject, else the API key's digest."""
        if self._tokens is not None:
            return f"user:{_claims(self._tokens.access_token).get('sub', '')}"
        if self.api_key is not None:
            return "key:" + hashlib.sha256(self.api_key.encode()).hexdigest()
        return "anonymous"

    def _ws_target(self, file_id: str | None, batch_id: str | None = None) -> WsTarget:
        """Where a watch connects, and how it proves who it is: the access token, else the API key (a header)."""
        if file_id and batch_id:
            raise ValueError("watch one file or one batch, not both")
        uri = f"{self.ws_url}/ws" + (f"/{file_id}" if file_id else f"/batches/{batch_id}" if batch_id else "")
        if self.org is not None:  # the query, as browsers send it (they cannot set WebSocket headers)
            uri += f"?{ORG_QUERY}={quote(self.org, safe='')}"
        if self._tokens is not None:
            token = self._tokens.access_token
            return WsTarget(uri, [Subprotocol("bearer"), Subprotocol(token)], {}, token)
        if self.api_key is not None:
            return WsTarget(uri, [], {"X-API-Key": self.api_key}, None)
        raise Unauthorized("watching needs a signed-in user (an access token) or an API key")


@dataclass(frozen=True)
class WsTarget:
    """A watch's WebSocket address and credentials."""

    uri: str
    subprotocols: list[Subprotocol]
    headers: dict[str, str]
    token: str | None
    """The access token sent (refreshed after a 401 or an expiry close); None for an API key (checked on reconnect)."""


def bearer_of(request: httpx.Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:] if value.lower().startswith("bearer ") else None


def checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise error_for(response)
    return response


def message_of(text: str | bytes) -> Message | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return Message.model_validate(body) if isinstance(body, dict) and "type" in body else None


def finished(message: Message, file_id: str | None, until_done: bool, batch_id: str | None = None) -> bool:
    """Whether a watch is over: its file reached a final status or was deleted, or its batch completed."""
    if not until_done:
        return False
    if batch_id is not None:
        return message.type == "batch_completed"
    if file_id is None:
        return False
    if message.type == "file_deleted":
        return message.subject == file_id
    progress = message.progress
    return progress is not None and progress.file_id == file_id and progress.status.terminal


def handshake_error(exc: InvalidStatus) -> FerryError:
    response = exc.response
    body = bytes(response.body or b"")
    fake = httpx.Response(response.status_code, content=body, headers=dict(response.headers.raw_items()))
    return error_for(fake)


PONG = '{"type":"pong"}'
WS_RETRIES = 5
HEALTHY_SECONDS = 2.0


def backoff(failures: int) -> float:
    return float(min(0.2 * 2**failures, 5.0))


def token_expired(exc: ConnectionClosed) -> bool:
    """Whether the notifier closed the socket because the access token expired under it (1008)."""
    return isinstance(exc, ConnectionClosedError) and exc.rcvd is not None and exc.rcvd.code == 1008


class Reconnects:
    """A watch's reconnection budget: ``WS_RETRIES`` failures in a row, reset by a message or a lasting connection."""

    def __init__(self) -> None:
        self._failures = 0
        self._opened: float | None = None

    def connected(self) -> None:
        self._opened = time.monotonic()

    def received(self) -> None:
        self._failures = 0

    def failed(self, uri: str, cause: BaseException | str) -> float:
        """Seconds to wait before connecting again; ``TransportError`` once the budget is spent."""
        if self._opened is not None and time.monotonic() - self._opened > HEALTHY_SECONDS:
            self._failures = 0  # a connection that lasted was healthy: start counting again
        self._opened = None
        self._failures += 1
        if self._failures > WS_RETRIES:
            raise TransportError(f"{uri}: {cause!r}")
        return backoff(self._failures)
