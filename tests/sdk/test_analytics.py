"""Analytics through the SDK and ``ferry stats`` against a running ``ferry dev``: what was uploaded shows up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ferry_launcher.cli import app
from ferry_sdk import FerryClient, Forbidden, NotFound, Unprocessable
from tests.e2e.platform import ADMIN_PASSWORD, ADMIN_USERNAME

from .conftest import new_user


def uploaded_and_parsed(client: FerryClient, *paths: Path) -> list[str]:
    records = [client.upload(path) for path in paths]
    for record in records:
        client.wait(record.file_id, timeout=60)
    return [r.file_id for r in records]


def test_analytics_count_what_was_uploaded(ferry_url: str, client: FerryClient, csv_file: Path, pdf_file: Path):
    me = client.me()
    uploaded_and_parsed(client, csv_file, csv_file, pdf_file)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    mine = client.my_analytics()
    assert (mine.org_id, mine.user_id, mine.granularity) == (me.id, me.id, "day")
    assert mine.totals.files == 3 and mine.totals.bytes == 2 * csv_file.stat().st_size + pdf_file.stat().st_size
    assert {p.period_start: p.files for p in mine.uploads if p.files} == {today: 3}
    assert {f.format: f.files for f in mine.formats} == {"csv": 2, "pdf": 1}
    assert (mine.parse.parsed, mine.parse.failed, mine.parse.success_rate) == (3, 0, 1.0)
    assert len(mine.recent) == 3

    weekly = client.my_analytics(start=today - timedelta(days=60), granularity="week")
    assert sum(p.files for p in weekly.uploads) == 3 and weekly.granularity == "week"
    with pytest.raises(Unprocessable):
        client.my_analytics(start=today, end=today - timedelta(days=1))

    overview = client.org_analytics()  # the personal organization: its owner is its admin
    assert overview.org_id == me.id and overview.totals.files == 3
    assert [(m.user_id, m.files) for m in overview.top_members] == [(me.id, 3)]
    assert {f.format for f in overview.slowest_formats} == {"csv", "pdf"}
    with pytest.raises(Forbidden):
        client.platform_analytics()
    with FerryClient(ferry_url) as admin:
        admin.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        everything = admin.platform_analytics(limit=1000)
    assert everything.totals.files >= 3 and me.id in {o.org_id for o in everything.orgs}


def test_an_organizations_analytics_are_for_its_admins(ferry_url: str, client: FerryClient, csv_file: Path):
    org = client.create_org("Watched over")
    invitation = client.invite(org.org_id, "viewer")
    client.org = org.org_id
    uploaded_and_parsed(client, csv_file)
    assert client.my_analytics().totals.files == 1
    assert client.org_analytics().totals.files == 1
    client.org = None
    assert client.org_analytics().totals.files == 0  # the personal organization has none

    with new_user(ferry_url) as viewer:
        viewer.accept_invitation(invitation.token)
        viewer.org = org.org_id
        assert viewer.my_analytics().totals.files == 0  # their own uploads only
        with pytest.raises(Forbidden) as refused:
            viewer.org_analytics()
        assert "admins and owners" in str(refused.value.detail)
        viewer.org = "no-such-org"
        with pytest.raises(NotFound):
            viewer.my_analytics()


def test_ferry_stats_shows_counts_and_analytics(signed_in: str, runner: CliRunner, csv_file: Path) -> None:
    uploaded = json.loads(runner.invoke(app, ["upload", str(csv_file), str(csv_file), "--watch", "--json"]).stdout)
    assert [o["status"] for o in uploaded] == ["parsed", "parsed"]
    today = datetime.now(UTC).strftime("%Y-%m-%d")

    shown = runner.invoke(app, ["stats"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert "Uploads by day" in shown.stdout and [line for line in lines if today in line and " 2 " in line]
    assert [line for line in lines if "csv" in line and "100%" in line]
    assert "Parse success rate 100.0%" in shown.stdout

    body = json.loads(runner.invoke(app, ["stats", "--json", "--granularity", "month"]).stdout)
    assert body["total_files"] == 2 and body["analytics"]["granularity"] == "month"
    assert body["analytics"]["parse"]["success_rate"] == 1.0 and "from" in body["analytics"]

    org_wide = runner.invoke(app, ["stats", "--org-wide"])
    assert org_wide.exit_code == 0, org_wide.output
    assert "Storage per member" in org_wide.stdout and "Slowest formats to parse" in org_wide.stdout
    refused = runner.invoke(app, ["stats", "--platform"])
    assert refused.exit_code == 3 and "platform administrators only" in refused.stderr
    assert runner.invoke(app, ["stats", "--granularity", "year"]).exit_code == 2
