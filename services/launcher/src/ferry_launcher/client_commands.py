"""The client half of ``ferry``: sign in, upload, list, read, export, delete and watch files.

Every command talks to a running Ferry through ``ferry_sdk``. Credentials come
from ``FERRY_API_KEY`` when set, else from ``ferry login``'s stored session
(refreshed, and stored again, as the tokens rotate).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from ferry_launcher import credentials, render
from ferry_sdk import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_RESUMABLE_THRESHOLD,
    DEFAULT_URL,
    AsyncFerryClient,
    FerryClient,
    FerryError,
    Forbidden,
    OtpRequired,
    Tokens,
    Unauthorized,
)
from ferry_sdk.errors import TransportError

EXIT_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_FILE_FAILED = 1, 2, 3, 4
PANEL = "Use Ferry"

P = ParamSpec("P")
R = TypeVar("R")

Url = Annotated[
    str | None,
    typer.Option("--url", envvar="FERRY_URL", help="Ferry's address (default: the one signed in to, or " + DEFAULT_URL),
]
Org = Annotated[
    str | None,
    typer.Option("--org", help="the organization to act in (default: ferry --org, FERRY_ORG, else your personal one)"),
]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
FileId = Annotated[str, typer.Argument(help="a file's id")]


class ExportFormat(StrEnum):
    csv = "csv"
    ndjson = "ndjson"
    json = "json"


class Sort(StrEnum):
    created_at = "created_at"
    newest = "-created_at"
    filename = "filename"
    filename_desc = "-filename"
    size = "size"
    size_desc = "-size"


def handled(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the SDK's errors into a message on stderr and the documented exit code."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (Unauthorized, Forbidden) as exc:
            hint = " (run `ferry login`)" if isinstance(exc, Unauthorized) else ""
            _fail(f"{_describe(exc)}{hint}", EXIT_AUTH)
        except TransportError as exc:
            _fail(f"cannot reach Ferry: {exc.detail}", EXIT_ERROR)
        except FerryError as exc:
            _fail(_describe(exc), EXIT_ERROR)

    return run


def _describe(exc: FerryError) -> str:
    detail = exc.detail if isinstance(exc.detail, str) else render.jsonable(exc.detail)
    return f"{exc.status_code} {detail}" if exc.status_code else str(detail)


def _fail(message: str, code: int) -> NoReturn:
    render.stderr().print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


default_org: ContextVar[str | None] = ContextVar("default_org", default=None)
"""What ``ferry --org`` (or FERRY_ORG) names, for the commands that do not name their own."""


def active_org(org: str | None) -> str | None:
    """The organization a command acts in: its own ``--org``, else ``ferry --org``; None: the personal one."""
    return org or default_org.get()


def _client_args(url: str | None, org: str | None = None) -> dict[str, Any]:
    """Where, as whom and in which organization to call: the API key from the environment, else the stored session."""
    session = credentials.load()
    target = (url or (session.url if session else DEFAULT_URL)).rstrip("/")
    scope = {"org": active_org(org)}
    api_key = os.environ.get("FERRY_API_KEY")
    if api_key:
        return {"url": target, "api_key": api_key, **scope}
    if session is None or session.url != target:
        raise Unauthorized(f"not signed in to {target}")

    def keep(tokens: Tokens | None) -> None:
        if tokens is None:
            credentials.forget()
        else:
            credentials.save(credentials.Session(url=target, username=session.username, tokens=tokens))

    return {"url": target, "tokens": session.tokens, "on_tokens": keep, **scope}


def open_client(url: str | None, org: str | None = None) -> FerryClient:
    return FerryClient(**_client_args(url, org))


def login(
    url: Url = None,
    username: Annotated[str, typer.Option(prompt=True, envvar="FERRY_USERNAME", help="username or email")] = "",
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, envvar="FERRY_PASSWORD", help="prompted for when not given")
    ] = "",
    otp: Annotated[str | None, typer.Option(help="a one-time code, for accounts with two-factor sign-in")] = None,
) -> None:
    """Sign in and keep the session in your config folder (readable by you only)."""
    target = (url or DEFAULT_URL).rstrip("/")
    with FerryClient(target) as client:
        try:
            client.login(username, password, otp)
        except OtpRequired:
            client.login(username, password, typer.prompt("One-time code"))
        assert client.tokens is not None
        path = credentials.save(credentials.Session(url=target, username=username, tokens=client.tokens))
    render.stderr().print(f"Signed in to {target} as {username} (session kept in {path})", highlight=False)


def logout(
    everywhere: Annotated[
        bool, typer.Option("--all", help="end every session of this user, not just this one")
    ] = False,
) -> None:
    """Sign out: revoke the stored session and forget it."""
    session = credentials.load()
    if session is None:
        render.stderr().print("Not signed in.")
        return
    with FerryClient(session.url, tokens=session.tokens) as client:
        try:
            client.logout_all() if everywhere else client.logout()
        except FerryError as exc:  # the local session goes regardless
            render.stderr().print(f"warning: the server did not revoke the session: {_describe(exc)}")
    credentials.forget()
    render.stderr().print(f"Signed out of {session.url}.", highlight=False)


def whoami(url: Url = None, json: Json = False) -> None:
    """Show who you are signed in as."""
    with open_client(url) as client:
        user = client.me()
    if json:
        render.print_json(user)
    else:
        render.stdout().print(f"{user.username} <{user.email}> · {user.role} · {client.url}", highlight=False)


def upload(
    paths: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="files to upload")],
    watch: Annotated[bool, typer.Option("--watch", "-w", help="follow each file until it is parsed or fails")] = False,
    analyze: Annotated[bool, typer.Option("--analyze", help="analyse each file once it is parsed")] = False,
    resumable_over: Annotated[
        int,
        typer.Option(
            "--resumable-over",
            envvar="FERRY_UPLOAD_RESUMABLE_THRESHOLD",
            min=0,
            help="files larger than this many bytes go in resumable chunks (tus)",
        ),
    ] = DEFAULT_RESUMABLE_THRESHOLD,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size", envvar="FERRY_UPLOAD_CHUNK_SIZE", min=1, help="bytes per chunk of a resumable upload"
        ),
    ] = DEFAULT_CHUNK_SIZE,
    url: Url = None,
    org: Org = None,
    json: Json = False,
) -> None:
    """Upload files with a live progress bar each; a table of results at the end (exit 4 if any failed).

    Large files go in chunks that survive a dropped connection; an upload interrupted for good
    resumes where it stopped when the same file is uploaded again.
    """
    from ferry_launcher.uploading import resume_store, upload_all

    async def run() -> list[Any]:
        args = _client_args(url, org) | {
            "resumable_threshold": resumable_over,
            "chunk_size": chunk_size,
            "resume_store": resume_store(),
        }
        async with AsyncFerryClient(**args) as client:
            console = None if json else render.stderr()
            return await upload_all(client, paths, watch=watch, console=console, analyze=analyze)

    outcomes = asyncio.run(run())
    if json:
        render.print_json([outcome.json() for outcome in outcomes])
    else:
        render.stdout().print(render.results_table([outcome.row() for outcome in outcomes]))
    if any(outcome.failed for outcome in outcomes):
        raise typer.Exit(EXIT_FILE_FAILED)


def ls(
    status: Annotated[str | None, typer.Option(help="only files in this status")] = None,
    file_type: Annotated[
        str | None, typer.Option("--type", help="only files of this format (csv, pdf, xlsx, ...)")
    ] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="only names containing this")] = None,
    sort: Annotated[Sort, typer.Option(help="order")] = Sort.newest,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: Url = None,
    org: Org = None,
    json: Json = False,
) -> None:
    """List your files."""
    with open_client(url, org) as client:
        page = client.list_files(
            limit=limit, offset=offset, status=status, file_type=file_type, q=query, sort=sort.value
        )
    if json:
        render.print_json(page)
        return
    shown = f"{page.offset + 1}–{page.offset + len(page.items)}" if page.items else "none"
    render.stdout().print(render.files_table(page.items, title=f"Files ({shown} of {page.total})"))


def show(file_id: FileId, url: Url = None, org: Org = None, json: Json = False) -> None:
    """Show a file: its record, what the parse found, and the first rows or pages."""
    with open_client(url, org) as client:
        record = client.get(file_id)
    if json:
        render.print_json(record)
        return
    out = render.stdout()
    out.print(render.detail_table(record))
    if (columns := render.columns_table(record)) is not None:
        out.print(columns)
    if record.content is not None:
        out.print(render.content_table(record.content))


def rows(
    file_id: FileId,
    sheet: Annotated[str | None, typer.Option(help="the sheet of a workbook (default: the first)")] = None,
    offset: Annotated[int, typer.Option(min=0, help="first row (or page) to show")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="how many")] = 20,
    url: Url = None,
    org: Org = None,
    json: Json = False,
) -> None:
    """Show a page of a parsed file's rows (tables) or pages (PDF, text)."""
    with open_client(url, org) as client:
        page = client.content(file_id, sheet=sheet, offset=offset, limit=limit)
    if json:
        render.print_json(page)
    else:
        render.stdout().print(render.content_table(page))


def export(
    file_id: FileId,
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv, ndjson or json")] = ExportFormat.csv,
    output: Annotated[str, typer.Option("--output", "-o", help="the file to write ('-': stdout)")] = "-",
    sheet: Annotated[str | None, typer.Option(help="the sheet of a workbook (default: the first)")] = None,
    url: Url = None,
    org: Org = None,
) -> None:
    """Export a parsed file's content as CSV, NDJSON or JSON."""
    with open_client(url, org) as client:
        if output == "-":
            client.export(file_id, sys.stdout.buffer, format=format.value, sheet=sheet)
            sys.stdout.buffer.flush()
            return
        written = client.export(file_id, output, format=format.value, sheet=sheet)
    render.stderr().print(f"Wrote {render.size(written)} to {output}", highlight=False)


def rm(
    file_ids: Annotated[list[str], typer.Argument(help="ids of the files to delete")], url: Url = None, org: Org = None
) -> None:
    """Delete files: record, original and parsed content."""
    failed = False
    err = render.stderr()
    with open_client(url, org) as client:
        for file_id in file_ids:
            try:
                client.delete(file_id)
            except (Unauthorized, Forbidden):
                raise
            except FerryError as exc:
                failed = True
                err.print(f"[bold red]error:[/] {file_id}: {_describe(exc)}", highlight=False)
            else:
                err.print(f"Deleted {file_id}", highlight=False)
    if failed:
        raise typer.Exit(EXIT_ERROR)


def watch(
    file_id: Annotated[str | None, typer.Argument(help="one file (default: all of yours, until Ctrl-C)")] = None,
    batch: Annotated[str | None, typer.Option(help="follow this batch's figures until it completes")] = None,
    url: Url = None,
    org: Org = None,
    json: Json = False,
) -> None:
    """Follow live progress: of one file until it is done (exit 4 if it fails), a batch, or all your files."""
    if file_id is not None and batch is not None:
        raise typer.BadParameter("give a file id or --batch, not both")
    out = render.stdout()

    async def run() -> str | None:
        last: str | None = None
        async with AsyncFerryClient(**_client_args(url, org)) as client:
            names: dict[str, str] = {}
            async for message in client.watch(file_id, batch_id=batch):
                progress = message.progress
                if progress is not None:
                    last = str(progress.status)
                    if progress.filename:
                        names[progress.file_id] = progress.filename
                if json:
                    print(message.model_dump_json(exclude_none=True), flush=True)
                else:
                    out.print(render.message_line(message, names), highlight=False)
        return last

    try:
        final = asyncio.run(run())
    except KeyboardInterrupt:
        return
    if file_id is not None and final in ("failed", "cancelled"):
        raise typer.Exit(EXIT_FILE_FAILED)


COMMANDS = (login, logout, whoami, upload, ls, show, rows, export, rm, watch)


def register(app: typer.Typer) -> None:
    for command in COMMANDS:
        app.command(rich_help_panel=PANEL)(handled(command))
