"""``FerryClient``: the synchronous client, one method per public endpoint."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from ferry_sdk import _calls as calls
from ferry_sdk import _tus
from ferry_sdk import _webhooks as webhooks
from ferry_sdk._base import (
    DEFAULT_URL,
    PONG,
    ClientBase,
    Reconnects,
    UploadOptions,
    bearer_of,
    checked,
    finished,
    handshake_error,
    message_of,
    token_expired,
)
from ferry_sdk._calls import Call, ExportFormat, SortKey
from ferry_sdk._multipart import ProgressCallback
from ferry_sdk._webhooks import DeliveryStatus
from ferry_sdk.analytics import Granularity, MyAnalytics, OrgAnalytics, PlatformAnalytics
from ferry_sdk.errors import FerryError, TransportError, Unauthorized
from ferry_sdk.models import (
    Analysis,
    ApiKey,
    ApiKeyWithSecret,
    Batch,
    BatchList,
    BatchStatistics,
    Content,
    Conversion,
    ConversionList,
    DeadLetter,
    DeadLetterList,
    Delivery,
    DeliveryList,
    FileDetail,
    FileList,
    FileProgress,
    FileRecord,
    FileStats,
    Invitation,
    InvitationWithToken,
    Member,
    Membership,
    Message,
    Org,
    OrgList,
    OrgQuotas,
    OrgRole,
    PresignedUrl,
    Project,
    ProjectList,
    RecoveryCodes,
    ReplayReport,
    SecretRotation,
    TokenPair,
    TotpEnrollment,
    TotpStatus,
    User,
    UserPage,
    Webhook,
    WebhookList,
    WebhookWithSecret,
)
from ferry_sdk.tokens import Tokens

T = TypeVar("T")
Destination = str | os.PathLike[str] | IO[bytes]


class FerryClient(ClientBase):
    """A client of one Ferry deployment.

    ``url`` is the public origin (``ferry dev`` or the edge); ``auth_url`` and
    ``ws_url`` override it where auth or the notifier listen elsewhere.
    Credentials are ``tokens`` (from ``login``; refreshed before they expire
    and once more on a 401, then retried) or an ``api_key`` (files API and webhooks).
    ``on_tokens`` is called with every new pair, so a caller can keep it.
    """

    def __init__(self, url: str = DEFAULT_URL, *, transport: httpx.BaseTransport | None = None, **kw: Any) -> None:
        super().__init__(url, **kw)
        self._http = httpx.Client(timeout=self.timeout, transport=transport)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FerryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending -------------------------------------------------------------------

    def _send(self, call: Call[Any], *, stream: bool = False) -> httpx.Response:
        if call.authenticated and self._refresh_due():
            self._refresh(self._access_token)
        for attempt in (1, 2):
            body = call.upload.stream(call.on_progress) if call.upload is not None else None
            request = self._http.build_request(**self._request(call), content=body)
            try:
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                raise TransportError(f"{request.method} {request.url}: {exc!r}") from exc
            sent_with = bearer_of(request)
            if attempt == 1 and sent_with and self._retry_after_refresh(response, call):
                response.close()
                self._refresh(sent_with)
                continue
            if response.status_code >= 400 and stream:
                response.read()
            return checked(response)
        raise AssertionError("unreachable")

    def _run(self, call: Call[T]) -> T:
        return call.parse(self._send(call))

    def _drive(self, flow: _tus.Flow[T]) -> T:
        """Run a multi-step flow (a resumable upload): each step's answer, or its error, goes back in."""
        answer: Any = None
        error: Exception | None = None
        try:
            while True:
                try:
                    step = flow.throw(error) if error is not None else flow.send(answer)
                except StopIteration as done:
                    return cast(T, done.value)
                answer, error = None, None
                try:
                    if isinstance(step, _tus.Pause):
                        time.sleep(step.seconds)
                    elif isinstance(step, _tus.Blocking):
                        answer = step.run()
                    else:
                        answer = self._run(step)
                except Exception as exc:  # the flow decides what an error means
                    error = exc
        finally:
            flow.close()

    def _refresh(self, stale: str | None) -> None:
        with self._lock:
            if self._tokens is None or self._tokens.refresh_token is None:
                raise Unauthorized("the access token expired and there is no refresh token")
            if stale is not None and self._tokens.access_token != stale:
                return  # another request refreshed meanwhile
            pair = self._run(calls.refresh(self._tokens.refresh_token))
            self._set_tokens(Tokens.of(pair))

    def _stream_to(self, call: Call[Any], dest: Destination) -> int:
        response = self._send(call, stream=True)
        written = 0
        try:
            if isinstance(dest, str | os.PathLike):
                path = Path(dest)
                try:
                    with path.open("wb") as out:
                        for chunk in response.iter_bytes():
                            written += out.write(chunk)
                except BaseException:
                    path.unlink(missing_ok=True)
                    raise
            else:
                for chunk in response.iter_bytes():
                    written += dest.write(chunk)
        except httpx.TransportError as exc:
            raise TransportError(f"{call.path}: {exc!r}") from exc
        finally:
            response.close()
        return written

    # -- auth ----------------------------------------------------------------------

    def register(self, username: str, email: str, password: str, full_name: str | None = None) -> User:
        return self._run(calls.register(username, email, password, full_name))

    def login(self, username: str, password: str, otp: str | None = None) -> TokenPair:
        """Sign in (``username`` may be an email); the client then uses and refreshes these tokens.

        Raises ``OtpRequired`` when the account has two-factor sign-in and no ``otp`` was given.
        """
        pair = self._run(calls.login(username, password, otp))
        self._set_tokens(Tokens.of(pair))
        return pair

    def refresh(self) -> Tokens:
        """Renew the tokens now (the client also does this by itself when they are due)."""
        self._refresh(None)
        assert self._tokens is not None
        return self._tokens

    def logout(self) -> None:
        """Revoke this sign-in's refresh token and forget the tokens."""
        if self._tokens is not None and self._tokens.refresh_token:
            self._run(calls.logout(self._tokens.refresh_token))
        self._set_tokens(None)

    def logout_all(self) -> None:
        """End every sign-in of this user (access tokens run out by themselves), and forget the tokens."""
        self._run(calls.logout_all())
        self._set_tokens(None)

    def me(self) -> User:
        return self._run(calls.me())

    def list_users(self, limit: int | None = None, offset: int | None = None) -> UserPage:
        return self._run(calls.list_users(limit, offset))

    def get_user(self, user_id: str) -> User:
        return self._run(calls.get_user(user_id))

    def update_user(self, user_id: str, *, role: str | None = None, disabled: bool | None = None) -> User:
        return self._run(calls.update_user(user_id, role, disabled))

    def delete_user(self, user_id: str) -> None:
        self._run(calls.delete_user(user_id))

    def reset_totp(self, user_id: str) -> None:
        self._run(calls.reset_totp(user_id))

    def totp_status(self) -> TotpStatus:
        return self._run(calls.totp_status())

    def totp_enroll(self) -> TotpEnrollment:
        return self._run(calls.totp_enroll())

    def totp_confirm(self, code: str) -> RecoveryCodes:
        return self._run(calls.totp_confirm(code))

    def totp_disable(self, code: str) -> None:
        self._run(calls.totp_disable(code))

    def create_api_key(self, name: str) -> ApiKeyWithSecret:
        return self._run(calls.create_api_key(name))

    def list_api_keys(self) -> list[ApiKey]:
        return self._run(calls.list_api_keys())

    def revoke_api_key(self, key_id: str) -> None:
        self._run(calls.revoke_api_key(key_id))

    # -- organizations -------------------------------------------------------------

    def create_org(self, name: str) -> Org:
        """Found an organization, with the caller as its owner; the tokens are renewed to name it."""
        org = self._run(calls.create_org(name))
        self._renew_memberships()
        return org

    def list_orgs(self, *, all: bool = False, limit: int | None = None, offset: int | None = None) -> OrgList:
        """The caller's organizations with their role in each, the personal one among them.

        ``all``: every organization (platform admin only).
        """
        return self._run(calls.list_orgs(all, limit, offset))

    def get_org(self, org_id: str) -> Org:
        """An organization with the caller's role, its members, quotas and usage."""
        return self._run(calls.get_org(org_id))

    def rename_org(self, org_id: str, name: str) -> Org:
        return self._run(calls.rename_org(org_id, name))

    def delete_org(self, org_id: str) -> None:
        self._run(calls.delete_org(org_id))

    def list_members(self, org_id: str) -> list[Member]:
        return self._run(calls.list_members(org_id))

    def set_member_role(self, org_id: str, user_id: str, role: OrgRole | str) -> Member:
        return self._run(calls.set_member_role(org_id, user_id, str(role)))

    def remove_member(self, org_id: str, user_id: str) -> None:
        """Remove a member (or, with one's own id, leave the organization)."""
        self._run(calls.remove_member(org_id, user_id))

    def invite(
        self, org_id: str, role: OrgRole | str = OrgRole.MEMBER, *, email: str | None = None
    ) -> InvitationWithToken:
        """An invitation to join with ``role``; its ``token`` (shown this once) is what the invitee accepts."""
        return self._run(calls.invite(org_id, str(role), email))

    def list_invitations(self, org_id: str) -> list[Invitation]:
        return self._run(calls.list_invitations(org_id))

    def revoke_invitation(self, org_id: str, invitation_id: str) -> None:
        self._run(calls.revoke_invitation(org_id, invitation_id))

    def accept_invitation(self, token: str) -> Membership:
        """Join the organization an invitation is for; the tokens are renewed to name it."""
        membership = self._run(calls.accept_invitation(token))
        self._renew_memberships()
        return membership

    def set_quotas(
        self,
        org_id: str,
        *,
        max_bytes: int | None = None,
        max_files: int | None = None,
        uploads_per_minute: int | None = None,
    ) -> Org:
        """Replace an organization's quotas (platform admin); a limit left None is no limit."""
        quotas = OrgQuotas(max_bytes=max_bytes, max_files=max_files, uploads_per_minute=uploads_per_minute)
        return self._run(calls.set_quotas(org_id, quotas))

    def _renew_memberships(self) -> None:
        # The notifier trusts the token's memberships: renew it so a new one counts at once.
        if self._can_refresh():
            self._refresh(None)

    # -- files ---------------------------------------------------------------------

    def upload(
        self,
        path: str | os.PathLike[str],
        *,
        on_progress: ProgressCallback | None = None,
        filename: str | None = None,
        content_type: str | None = None,
        project_id: str | None = None,
        batch_id: str | None = None,
        analyze: bool = False,
        idempotency_key: str | None = None,
        resumable: bool | None = None,
    ) -> FileRecord:
        """Stream a file from disk; ``on_progress(bytes_sent, total)`` is called as it goes.

        A file larger than ``resumable_threshold`` (or any, with ``resumable=True``) goes by tus
        in chunks of ``chunk_size``: a dropped connection or a passing server error resumes from
        the server's offset, and with a ``resume_store`` another process resumes it too.
        ``analyze``: start its analysis once it is parsed. ``idempotency_key``: sending the
        same upload again with the same key returns the first one's file, not a second file
        (one-shot uploads only).
        """
        options = UploadOptions(filename, content_type, project_id, batch_id, analyze, idempotency_key)
        plan = self._tus_plan(path, on_progress, options, resumable)
        if plan is not None:
            return self._drive(_tus.upload_flow(plan))
        call = calls.upload(path, on_progress, filename, content_type, project_id, batch_id, analyze, idempotency_key)
        return self._run(call)

    def abandon_upload(self, path: str | os.PathLike[str]) -> bool:
        """Delete the unfinished resumable upload the resume store remembers for ``path``; whether there was one."""
        return self._drive(_tus.abandon_flow(self._tus_key(path), self.resume_store, self.upload_retries))

    def list_files(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        status: str | None = None,
        file_type: str | None = None,
        q: str | None = None,
        sort: SortKey | None = None,
        project_id: str | None = None,
        batch_id: str | None = None,
    ) -> FileList:
        return self._run(calls.list_files(limit, offset, status, file_type, q, sort, project_id, batch_id))

    def search(self, q: str, *, limit: int | None = None, offset: int | None = None) -> FileList:
        return self._run(calls.search(q, limit, offset))

    def stats(self) -> FileStats:
        return self._run(calls.stats())

    def get(self, file_id: str) -> FileDetail:
        return self._run(calls.get(file_id))

    def content(
        self, file_id: str, *, sheet: str | None = None, offset: int | None = None, limit: int | None = None
    ) -> Content:
        """A page of rows (``TableContent``) or pages of text (``PagesContent``); 409 until parsed."""
        return self._run(calls.content(file_id, sheet, offset, limit))

    def progress(self, file_id: str) -> FileProgress:
        return self._run(calls.progress(file_id))

    def cancel(self, file_id: str) -> FileRecord:
        return self._run(calls.cancel(file_id))

    def move(self, file_id: str, project_id: str | None) -> FileRecord:
        """Move a file into one of its owner's projects, or out of its project with ``None``."""
        return self._run(calls.move(file_id, project_id))

    # -- batches -------------------------------------------------------------------

    def create_batch(self, name: str | None = None) -> Batch:
        """Open an upload batch; uploads join it with ``upload(..., batch_id=...)``."""
        return self._run(calls.create_batch(name))

    def get_batch(self, batch_id: str) -> BatchStatistics:
        """A batch's live statistics: files per status, bytes, rows, parse times, failures, completion."""
        return self._run(calls.get_batch(batch_id))

    def list_batches(self, *, limit: int | None = None, offset: int | None = None) -> BatchList:
        """The caller's batches (an admin's: everyone's), each with its files per status."""
        return self._run(calls.list_batches(limit, offset))

    # -- projects ------------------------------------------------------------------

    def create_project(self, name: str, *, description: str | None = None) -> Project:
        return self._run(calls.create_project(name, description))

    def list_projects(
        self, *, archived: bool | None = None, limit: int | None = None, offset: int | None = None
    ) -> ProjectList:
        """The caller's projects (an admin's: everyone's), each with its files and bytes."""
        return self._run(calls.list_projects(archived, limit, offset))

    def get_project(self, project_id: str) -> Project:
        return self._run(calls.get_project(project_id))

    def update_project(
        self,
        project_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        archived: bool | None = None,
    ) -> Project:
        """Rename, describe, archive or unarchive a project; what is left ``None`` stays as it is."""
        return self._run(calls.update_project(project_id, name, description, archived))

    def delete_project(self, project_id: str, *, with_files: bool = False) -> None:
        """Delete a project; its files stay (in no project) unless ``with_files`` deletes them too."""
        self._run(calls.delete_project(project_id, with_files))

    def delete(self, file_id: str) -> None:
        self._run(calls.delete(file_id))

    def download(self, file_id: str, dest: Destination) -> int:
        """Stream the original bytes to a path or a binary file; returns the bytes written."""
        return self._stream_to(calls.download(file_id), dest)

    def export(self, file_id: str, dest: Destination, *, format: ExportFormat = "csv", sheet: str | None = None) -> int:
        """Stream the parsed content as csv, ndjson or json to a path or a binary file; returns the bytes written."""
        return self._stream_to(calls.export(file_id, format, sheet), dest)

    # -- analyses and conversions -----------------------------------------------------

    def analyze(self, file_id: str) -> Analysis:
        """Start the parsed file's analysis, or get the one already running or done (``Conflict``: not parsed)."""
        return self._run(calls.start_analysis(file_id))

    def analysis(self, file_id: str, *, page_offset: int | None = None, page_limit: int | None = None) -> Analysis:
        """Where the file's analysis stands; once done, its result and a page of per-page results."""
        return self._run(calls.get_analysis(file_id, page_offset, page_limit))

    def cancel_analysis(self, file_id: str) -> None:
        self._run(calls.cancel_analysis(file_id))

    def wait_analysis(self, file_id: str, *, timeout: float = 300.0, interval: float = 0.2) -> Analysis:
        """Poll until the analysis is done, failed or cancelled. ``TimeoutError`` past the deadline."""
        deadline = time.monotonic() + timeout
        while not (found := self.analysis(file_id)).finished:
            if time.monotonic() > deadline:
                raise TimeoutError(f"analysis of {file_id} not done after {timeout} s")
            time.sleep(interval)
            interval = min(interval * 1.5, 2.0)
        return found

    def convert(self, file_id: str, to: str, *, sheet: str | None = None, wait: float | None = None) -> Conversion:
        """Convert the parsed file to ``to`` (a conversion to the same target is reused).

        ``wait``: seconds (at most 60) the server waits for the result before answering.
        ``NotImplementedByServer`` when this deployment cannot make it (no LibreOffice).
        """
        return self._run(calls.convert(file_id, to, sheet, wait))

    def conversions(self, file_id: str, *, limit: int | None = None, offset: int | None = None) -> ConversionList:
        return self._run(calls.list_conversions(file_id, limit, offset))

    def conversion(self, file_id: str, conversion_id: str) -> Conversion:
        return self._run(calls.get_conversion(file_id, conversion_id))

    def delete_conversion(self, file_id: str, conversion_id: str) -> None:
        """Cancel a running conversion, or remove a finished one and its result."""
        self._run(calls.delete_conversion(file_id, conversion_id))

    def download_conversion(self, file_id: str, conversion_id: str, dest: Destination) -> int:
        """Stream a finished conversion to a path or a binary file; returns the bytes written."""
        return self._stream_to(calls.download_conversion(file_id, conversion_id), dest)

    def download_url(self, file_id: str, conversion_id: str | None = None) -> PresignedUrl:
        """A short-lived URL of the original (or of a conversion) that needs no credentials."""
        call = calls.download_url(file_id) if conversion_id is None else calls.conversion_url(file_id, conversion_id)
        return self._run(call)

    def wait(self, file_id: str, *, timeout: float = 120.0, interval: float = 0.2) -> FileDetail:
        """Poll until the file is parsed, failed or cancelled; its record then. ``TimeoutError`` past the deadline."""
        deadline = time.monotonic() + timeout
        while not self.progress(file_id).status.terminal:
            if time.monotonic() > deadline:
                raise TimeoutError(f"file {file_id} not done after {timeout} s")
            time.sleep(interval)
            interval = min(interval * 1.5, 2.0)
        return self.get(file_id)

    def watch(
        self, file_id: str | None = None, *, batch_id: str | None = None, until_done: bool | None = None
    ) -> Iterator[Message]:
        """The notifier's messages about one file, one batch, or all of the active organization's files.

        The current state comes first. A watch of one file ends when it is parsed, failed,
        cancelled or deleted; of a batch (``batch_update`` messages, see ``Message.batch``)
        at its ``batch_completed``; ``until_done=False`` keeps either open. Reconnects
        after a dropped connection or an expired token. Heartbeats are answered, not yielded.
        """
        until_done = (file_id or batch_id) is not None if until_done is None else until_done
        reconnects, refreshed = Reconnects(), False
        while True:
            if self._refresh_due():
                self._refresh(self._access_token)
            target = self._ws_target(file_id, batch_id)
            uri = target.uri
            try:
                with connect(
                    uri,
                    subprotocols=target.subprotocols or None,
                    additional_headers=target.headers or None,
                    open_timeout=self.timeout,
                ) as ws:
                    refreshed = False
                    reconnects.connected()
                    for text in ws:
                        reconnects.received()
                        message = message_of(text)
                        if message is None or message.type == "pong":
                            continue
                        if message.type == "ping":
                            ws.send(PONG)
                            continue
                        yield message
                        if finished(message, file_id, until_done, batch_id):
                            return
            except InvalidStatus as exc:
                error = handshake_error(exc)
                if isinstance(error, Unauthorized) and not refreshed and target.token and self._can_refresh():
                    refreshed = True
                    self._refresh(target.token)
                    continue
                raise error from exc
            except ConnectionClosed as exc:
                if token_expired(exc) and target.token:
                    self._refresh(target.token)
                last: BaseException | str = exc
            except (OSError, TimeoutError) as exc:
                last = exc
            else:
                last = "closed by the server"
            time.sleep(reconnects.failed(uri, last))

    # -- webhooks (the notifier; a token, or an API key in its owner's personal org) ---

    def create_webhook(self, url: str, events: Sequence[str], *, description: str | None = None) -> WebhookWithSecret:
        """Register an endpoint for the active organization's events (``["*"]``: all); its secret is shown once."""
        return self._run(webhooks.create_webhook(url, events, description))

    def list_webhooks(self, *, limit: int | None = None, offset: int | None = None) -> WebhookList:
        """The active organization's webhooks (a member who is not an admin: only those they registered)."""
        return self._run(webhooks.list_webhooks(limit, offset))

    def get_webhook(self, webhook_id: str) -> Webhook:
        return self._run(webhooks.get_webhook(webhook_id))

    def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = webhooks._UNSET,
        enabled: bool | None = None,
    ) -> Webhook:
        """Change what is given (``description=None`` clears it); ``enabled=True`` clears the failing state."""
        return self._run(webhooks.update_webhook(webhook_id, url, events, description, enabled))

    def delete_webhook(self, webhook_id: str) -> None:
        self._run(webhooks.delete_webhook(webhook_id))

    def rotate_secret(self, webhook_id: str) -> SecretRotation:
        """A new signing secret (shown once); the previous one keeps signing until ``previous_expires_at``."""
        return self._run(webhooks.rotate_secret(webhook_id))

    def test_webhook(self, webhook_id: str) -> Delivery:
        """Send a ``webhook.test`` delivery now; follow it with ``webhook_deliveries`` or ``get_delivery``."""
        return self._run(webhooks.test_webhook(webhook_id))

    def webhook_deliveries(
        self,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> DeliveryList:
        """A webhook's deliveries, newest first, each with its attempts."""
        return self._run(webhooks.webhook_deliveries(webhook_id, status, limit, offset))

    def get_delivery(self, webhook_id: str, delivery_id: str) -> Delivery:
        return self._run(webhooks.get_delivery(webhook_id, delivery_id))

    def resend_delivery(self, webhook_id: str, delivery_id: str) -> Delivery:
        """Post a delivery again (same ``webhook-id``, attempts numbered on)."""
        return self._run(webhooks.resend_delivery(webhook_id, delivery_id))

    # -- analytics -----------------------------------------------------------------

    def my_analytics(
        self, *, start: datetime | None = None, end: datetime | None = None, granularity: Granularity | None = None
    ) -> MyAnalytics:
        """The caller's own files in the active organization: uploads per period, formats, parse outcomes.

        The window runs from ``start`` (default: 30 days before ``end``) to ``end`` (default: now).
        """
        return self._run(calls.my_analytics(start, end, granularity))

    def org_analytics(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        granularity: Granularity | None = None,
        limit: int | None = None,
        inactive_days: int | None = None,
    ) -> OrgAnalytics:
        """The active organization (its admins and owners): storage per member and format, trends, slowest formats."""
        return self._run(calls.org_analytics(start, end, granularity, limit, inactive_days))

    def platform_analytics(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        granularity: Granularity | None = None,
        limit: int | None = None,
        inactive_days: int | None = None,
    ) -> PlatformAnalytics:
        """Every organization (the platform admin): the organization figures across the platform, per organization."""
        return self._run(calls.platform_analytics(start, end, granularity, limit, inactive_days))

    # -- admin: dead letters -------------------------------------------------------

    def dead_letters(
        self, *, queue: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> DeadLetterList:
        return self._run(calls.dead_letters(queue, limit, offset))

    def dead_letter(self, letter_id: str) -> DeadLetter:
        return self._run(calls.dead_letter(letter_id))

    def replay_dead_letter(self, letter_id: str) -> ReplayReport:
        return self._run(calls.replay_dead_letter(letter_id))

    def replay_dead_letters(self, *, queue: str | None = None) -> ReplayReport:
        return self._run(calls.replay_dead_letters(queue))

    def discard_dead_letter(self, letter_id: str) -> None:
        self._run(calls.discard_dead_letter(letter_id))


__all__ = ["Destination", "FerryClient", "FerryError"]
