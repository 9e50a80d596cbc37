"""``ferry dead-letters list|show|replay|discard``: the gateway's admin API, from a terminal.

It talks to a running Ferry through ``ferry_sdk`` as an administrator: a token
from ``--token`` / ``FERRY_TOKEN``, or a login with ``--username`` /
``--password`` (``FERRY_ADMIN_USERNAME`` / ``FERRY_ADMIN_PASSWORD``) at ``--auth-url``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from ferry_launcher import render
from ferry_sdk import FerryClient, FerryError, Tokens
from ferry_sdk.models import DeadLetter, DeadLetterList, ReplayReport


class _Refused(Exception):
    pass


def run(
    action: str,
    letter_id: str | None,
    *,
    replay_all: bool,
    queue: str | None,
    limit: int,
    as_json: bool,
    url: str,
    auth_url: str | None,
    token: str | None,
    username: str | None,
    password: str | None,
    out: TextIO = sys.stdout,
) -> int:
    tokens = Tokens.from_access_token(token) if token else None
    with FerryClient(url, auth_url=auth_url, tokens=tokens) as client:
        try:
            if tokens is None:
                _login(client, username, password)
        except (_Refused, FerryError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        try:
            _act(client, action, letter_id, replay_all, queue, limit, as_json, out)
        except (_Refused, FerryError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


def _login(client: FerryClient, username: str | None, password: str | None) -> None:
    if not (username and password):
        raise _Refused("give --token (FERRY_TOKEN) or --username and --password of an administrator")
    client.login(username, password)


def _act(
    client: FerryClient,
    action: str,
    letter_id: str | None,
    replay_all: bool,
    queue: str | None,
    limit: int,
    as_json: bool,
    out: TextIO,
) -> None:
    if action == "list":
        page = client.dead_letters(queue=queue, limit=limit)
        if as_json:
            _dump(page, out)
        else:
            _print_table(page, out)
        return
    if action == "replay" and replay_all:
        body: DeadLetter | ReplayReport = client.replay_dead_letters(queue=queue)
    elif not letter_id:
        raise _Refused(f"{action} needs a dead letter's id" + (" (or --all)" if action == "replay" else ""))
    elif action == "show":
        body = client.dead_letter(letter_id)
    elif action == "replay":
        body = client.replay_dead_letter(letter_id)
    else:
        client.discard_dead_letter(letter_id)
        return
    if isinstance(body, ReplayReport) and not as_json:
        print(f"replayed {body.replayed}, discarded {body.discarded} (their files were gone)", file=out)
    else:
        _dump(body, out)


def _dump(value: Any, out: TextIO) -> None:
    json.dump(render.jsonable(value), out, indent=2)
    out.write("\n")


def _print_table(page: DeadLetterList, out: TextIO) -> None:
    print(f"{page.total} dead letter(s)", file=out)
    for item in page.items:
        print(
            f"{item.id}  {item.dead_at.isoformat()}  {item.queue}  {item.reason}  "
            f"{item.type or '(not an event)'}  file={item.file_id or '-'}",
            file=out,
        )
