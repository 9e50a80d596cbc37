"""The ``ferry`` command: run the platform (``dev``, ``serve``, ``contracts``, ``dead-letters``)
and use it (``login``, ``upload``, ``ls``, ``show``, ``rows``, ``export``, ``rm``, ``watch``, ``stats``, ``orgs``),
in the organization ``--org`` (or FERRY_ORG) names, else the personal one.

Exit codes: 0 ok · 1 any other error · 2 usage error · 3 not signed in or refused
(401/403) · 4 a file failed (refused upload, failed or cancelled parse).
"""

from __future__ import annotations

import importlib
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ferry_launcher import client_commands, job_commands, org_commands, stats_command, webhook_commands
from ferry_sdk import DEFAULT_URL

SERVICES = ("auth", "ingest", "parser", "notifier")

EPILOG = (
    "Exit codes: 0 ok, 1 other errors, 2 usage error, 3 auth error (not signed in, session ended, refused), "
    "4 a file failed (upload refused, parse failed or cancelled)."
)

app = typer.Typer(
    name="ferry",
    help="Ferry: file ingestion and parsing. Run the platform, or use a running one.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def options(
    org: Annotated[
        str | None,
        typer.Option(
            envvar="FERRY_ORG", help="the organization the client commands act in (default: your personal one)"
        ),
    ] = None,
) -> None:
    client_commands.default_org.set(org)


class Service(StrEnum):
    auth = "auth"
    ingest = "ingest"
    parser = "parser"
    notifier = "notifier"


class ContractsAction(StrEnum):
    write = "write"
    check = "check"


class DeadLetterAction(StrEnum):
    list = "list"
    show = "show"
    replay = "replay"
    discard = "discard"


@app.command(rich_help_panel="Run Ferry")
def dev(
    port: Annotated[int | None, typer.Option(help="port to listen on (default: FERRY_PORT or 8000)")] = None,
    host: Annotated[str | None, typer.Option(help="address to bind (default: FERRY_HOST or 127.0.0.1)")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="where data is kept (default: FERRY_DATA_DIR or ./.ferry)")
    ] = None,
) -> None:
    """Run the whole platform in one process (embedded mode)."""
    for value, env in ((port, "FERRY_PORT"), (host, "FERRY_HOST"), (data_dir, "FERRY_DATA_DIR")):
        if value is not None:
            os.environ[env] = str(value)
    from ferry_core.observability import configure_logging
    from ferry_launcher import embedded

    config = embedded.config_from_env()
    configure_logging(
        "ferry", os.environ.get("FERRY_LOG_LEVEL", "info"), json=os.environ.get("FERRY_LOG_JSON", "1") != "0"
    )
    embedded.run(config)


@app.command(rich_help_panel="Run Ferry")
def serve(service: Annotated[Service, typer.Argument(help="the service to run")]) -> None:
    """Run one service against RabbitMQ, MongoDB and S3."""
    importlib.import_module(f"ferry_{service.value}.__main__").main()


@app.command(rich_help_panel="Run Ferry")
def contracts(
    action: Annotated[ContractsAction, typer.Argument(help="write the files, or check they match the code")],
    root: Annotated[Path, typer.Option(help="the contracts folder")] = Path("contracts"),
) -> None:
    """Write or check the generated contracts/ folder."""
    from ferry_launcher import contracts as contract_files

    raise typer.Exit(contract_files.run(action.value, root))


@app.command("dead-letters", rich_help_panel="Run Ferry")
def dead_letters(
    action: Annotated[DeadLetterAction, typer.Argument()],
    id: Annotated[str | None, typer.Argument(help="a dead letter's id (show, replay, discard)")] = None,
    all: Annotated[bool, typer.Option("--all", help="replay every dead letter (of --queue, if given)")] = False,
    queue: Annotated[str | None, typer.Option(help="only dead letters of this queue")] = None,
    limit: int = 50,
    json: Annotated[bool, typer.Option("--json", help="print the API's JSON")] = False,
    url: Annotated[str, typer.Option(envvar="FERRY_URL", help="the files API")] = DEFAULT_URL,
    auth_url: Annotated[str | None, typer.Option(envvar="FERRY_AUTH_URL", help="auth (default: --url)")] = None,
    token: Annotated[str | None, typer.Option(envvar="FERRY_TOKEN", help="an admin's access token")] = None,
    username: Annotated[str | None, typer.Option(envvar="FERRY_ADMIN_USERNAME")] = None,
    password: Annotated[str | None, typer.Option(envvar="FERRY_ADMIN_PASSWORD")] = None,
) -> None:
    """List and replay messages a queue gave up on (admin)."""
    from ferry_launcher import deadletters

    code = deadletters.run(
        action.value,
        id,
        replay_all=all,
        queue=queue,
        limit=limit,
        as_json=json,
        url=url,
        auth_url=auth_url,
        token=token,
        username=username,
        password=password,
    )
    raise typer.Exit(code)


client_commands.register(app)
job_commands.register(app)
stats_command.register(app)
org_commands.register(app)
webhook_commands.register(app)


def main(argv: list[str] | None = None) -> int:
    """Run ``ferry`` with these arguments (default: the command line); the exit code."""
    try:
        app(args=argv, prog_name="ferry")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
