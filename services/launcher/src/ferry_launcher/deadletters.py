"""``ferry dead-letters list|show|replay|discard``: the gateway's admin API, from a terminal.

It talks to a running Ferry over HTTP as an administrator: a token from
``--token`` / ``FERRY_TOKEN``, or a login with ``--username`` / ``--password``
(``FERRY_ADMIN_USERNAME`` / ``FERRY_ADMIN_PASSWORD``) at ``--auth-url``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

import httpx


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    with httpx.Client(base_url=args.url, timeout=60) as client:
        try:
            token = args.token or _login(client, args)
        except _Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        client.headers["Authorization"] = f"Bearer {token}"
        try:
            return _act(client, args, out)
        except _Refused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1


class _Refused(Exception):
    pass


def _login(client: httpx.Client, args: argparse.Namespace) -> str:
    if not (args.username and args.password):
        raise _Refused("give --token (FERRY_TOKEN) or --username and --password of an administrator")
    url = (args.auth_url or args.url).rstrip("/") + "/auth/login"
    response = client.post(url, json={"username": args.username, "password": args.password})
    if response.status_code != 200:
        raise _Refused(f"login failed ({response.status_code}): {_detail(response)}")
    return str(response.json()["access_token"])


def _act(client: httpx.Client, args: argparse.Namespace, out: TextIO) -> int:
    params = {"queue": args.queue} if args.queue else {}
    if args.action == "list":
        body = _call(client, "GET", "/admin/dead-letters", params={**params, "limit": args.limit})
        if args.json:
            json.dump(body, out, indent=2)
            out.write("\n")
        else:
            _print_table(body, out)
        return 0
    if args.action == "replay" and args.all:
        body = _call(client, "POST", "/admin/dead-letters/replay", params=params)
    else:
        if not args.id:
            raise _Refused(
                f"{args.action} needs a dead letter's id" + (" (or --all)" if args.action == "replay" else "")
            )
        path = f"/admin/dead-letters/{args.id}"
        method = {"show": "GET", "replay": "POST", "discard": "DELETE"}[args.action]
        body = _call(client, method, path + ("/replay" if args.action == "replay" else ""))
    if args.action == "replay" and not args.json:
        print(f"replayed {body['replayed']}, discarded {body['discarded']} (their files were gone)", file=out)
    elif body is not None:
        json.dump(body, out, indent=2)
        out.write("\n")
    return 0


def _call(client: httpx.Client, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
    response = client.request(method, path, params=params)
    if response.status_code >= 400:
        raise _Refused(f"{method} {path} answered {response.status_code}: {_detail(response)}")
    return response.json() if response.content else None


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except ValueError:
        return response.text[:200]


def _print_table(body: dict[str, Any], out: TextIO) -> None:
    print(f"{body['total']} dead letter(s)", file=out)
    for item in body["items"]:
        print(
            f"{item['id']}  {item['dead_at']}  {item['queue']}  {item['reason']}  "
            f"{item['type'] or '(not an event)'}  file={item['file_id'] or '-'}",
            file=out,
        )
