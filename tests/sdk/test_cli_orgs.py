"""``ferry orgs`` and the active organization (``--org``, ``FERRY_ORG``) against a running ``ferry dev``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from typer.testing import CliRunner

from ferry_launcher.cli import app
from ferry_sdk import FerryClient
from tests.e2e.platform import ADMIN_PASSWORD, ADMIN_USERNAME

from .conftest import PASSWORD


def ok(runner: CliRunner, *args: str, env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_organizations_from_the_command_line(signed_in: str, runner: CliRunner, csv_file: Path) -> None:
    org_id = ok(runner, "orgs", "create", "Acme").strip()
    mine = json.loads(ok(runner, "orgs", "ls", "--json"))
    assert {o["org_id"]: (o["name"], o["role"]) for o in mine["items"]}[org_id] == ("Acme", "owner")
    table = ok(runner, "orgs", "ls")
    assert "(personal)" in table and [line for line in table.splitlines() if org_id in line and "owner" in line]
    shown = ok(runner, "orgs", "show", org_id)
    assert "Acme" in shown and "no limit" in shown

    # Files commands act in the organization --org, FERRY_ORG or `ferry --org` names; the personal one otherwise.
    uploaded = json.loads(ok(runner, "--org", org_id, "upload", str(csv_file), "--json"))
    assert uploaded[0]["status"] == "queued"
    assert json.loads(ok(runner, "ls", "--json"))["total"] == 0
    assert json.loads(ok(runner, "ls", "--org", org_id, "--json"))["total"] == 1
    assert json.loads(ok(runner, "ls", "--json", env={"FERRY_ORG": org_id}))["total"] == 1
    assert json.loads(ok(runner, "stats", "--json", env={"FERRY_ORG": org_id}))["total_files"] == 1
    unknown = runner.invoke(app, ["ls", "--org", "no-such-org"])
    assert unknown.exit_code == 1 and "404" in unknown.stderr

    token = ok(runner, "orgs", "invite", org_id, "--role", "viewer").strip()
    username = f"sdk-{uuid.uuid4().hex[:10]}"
    with FerryClient(signed_in) as invitee:
        invitee.register(username, f"{username}@example.com", PASSWORD)
        invitee.login(username, PASSWORD)
        invitee_id = invitee.me().id
        invitee.accept_invitation(token)
    members = ok(runner, "orgs", "members", org_id)
    assert [line for line in members.splitlines() if username in line and "viewer" in line]
    changed = runner.invoke(app, ["orgs", "role", org_id, invitee_id, "admin"])
    assert changed.exit_code == 0 and f"{username} is now admin" in changed.stderr
    assert runner.invoke(app, ["orgs", "role", org_id, invitee_id, "chief"]).exit_code == 2
    assert runner.invoke(app, ["orgs", "remove", org_id, invitee_id]).exit_code == 0
    assert username not in ok(runner, "orgs", "members", org_id)

    # Quotas: anyone may read them; only the platform admin sets them.
    refused = runner.invoke(app, ["orgs", "quota", org_id, "--max-files", "5"])
    assert refused.exit_code == 3 and "platform admin" in refused.stderr
    assert runner.invoke(app, ["orgs", "quota", org_id, "--max-files", "lots"]).exit_code == 2
    admin = runner.invoke(app, ["login", "--url", signed_in, "--username", ADMIN_USERNAME], input=f"{ADMIN_PASSWORD}\n")
    assert admin.exit_code == 0, admin.output
    set_once = json.loads(ok(runner, "orgs", "quota", org_id, "--max-files", "5", "--max-bytes", "2GB", "--json"))
    assert set_once == {"max_bytes": 2_000_000_000, "max_files": 5, "uploads_per_minute": None}
    set_twice = json.loads(ok(runner, "orgs", "quota", org_id, "--max-bytes", "none", "--json"))
    assert set_twice == {"max_bytes": None, "max_files": 5, "uploads_per_minute": None}
    assert org_id in ok(runner, "orgs", "ls", "--all")
    everywhere = ok(runner, "stats", "--platform", "--granularity", "week")
    assert "every organization" in everywhere and "Storage per organization" in everywhere
