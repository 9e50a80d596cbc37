"""The ``ferry`` client commands against a running ``ferry dev``: with typer's runner, and once as a real process."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ferry_launcher.cli import app
from ferry_sdk import FerryClient

from .conftest import PASSWORD


def test_login_keeps_the_session_readable_by_its_owner_only(signed_in: str, config_dir: Path, runner: CliRunner):
    stored = config_dir / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700
    assert json.loads(stored.read_text())["url"] == signed_in
    who = runner.invoke(app, ["whoami", "--json"])
    assert who.exit_code == 0 and json.loads(who.stdout)["username"].startswith("sdk-")

    assert runner.invoke(app, ["logout"]).exit_code == 0
    assert not stored.exists()
    refused = runner.invoke(app, ["ls"])
    assert refused.exit_code == 3 and "ferry login" in refused.stderr


def test_upload_with_watch_shows_bars_then_a_table(
    signed_in: str, runner: CliRunner, csv_file: Path, pdf_file: Path, tmp_path: Path
) -> None:
    result = runner.invoke(app, ["upload", str(csv_file), str(pdf_file), "--watch"])
    assert result.exit_code == 0, result.output
    # The bars (on stderr): each file, its final status, at 100%.
    bars = [line for line in result.stderr.splitlines() if "%" in line]
    assert any("people.csv" in line and "parsed" in line and "100%" in line and "250 rows" in line for line in bars)
    assert any("document.pdf" in line and "parsed" in line and "100%" in line and "3 pages" in line for line in bars)
    # The final table (on stdout).
    table = result.stdout
    assert "Uploads" in table
    assert [line for line in table.splitlines() if "people.csv" in line and "parsed" in line and "250 rows" in line]
    assert [line for line in table.splitlines() if "document.pdf" in line and "parsed" in line and "3 pages" in line]

    listed = json.loads(runner.invoke(app, ["ls", "--json"]).stdout)
    ids = {item["filename"]: item["file_id"] for item in listed["items"]}
    assert listed["total"] == 2 and set(ids) == {"people.csv", "document.pdf"}
    csv_id, pdf_id = ids["people.csv"], ids["document.pdf"]

    shown = runner.invoke(app, ["show", csv_id])
    assert shown.exit_code == 0 and "Columns" in shown.stdout and "score" in shown.stdout
    rows = json.loads(runner.invoke(app, ["rows", csv_id, "--offset", "5", "--limit", "2", "--json"]).stdout)
    assert rows["rows"] == [[6, "name 6", 9.0], [7, "name 7", 10.5]]
    pages = runner.invoke(app, ["rows", pdf_id])
    assert "Page 3: Ferry carries files across" in pages.stdout and "pages 1–3 of 3" in pages.stdout

    out = tmp_path / "people.ndjson"
    exported = runner.invoke(app, ["export", csv_id, "--format", "ndjson", "-o", str(out)])
    assert exported.exit_code == 0 and len(out.read_text().splitlines()) == 250

    watched = runner.invoke(app, ["watch", csv_id, "--json"])
    assert watched.exit_code == 0
    assert json.loads(watched.stdout.splitlines()[-1])["data"]["status"] == "parsed"
    counts = json.loads(runner.invoke(app, ["stats", "--json"]).stdout)
    assert counts["by_status"] == {"parsed": 2}
    assert "status parsed" in runner.invoke(app, ["stats"]).stdout

    removed = runner.invoke(app, ["rm", csv_id, pdf_id])
    assert removed.exit_code == 0 and removed.stderr.count("Deleted") == 2
    assert runner.invoke(app, ["show", csv_id]).exit_code == 1


def test_exit_codes(signed_in: str, runner: CliRunner, tmp_path: Path, csv_file: Path) -> None:
    noise = tmp_path / "noise.bin"
    noise.write_bytes(bytes(range(256)) * 4)
    mixed = runner.invoke(app, ["upload", str(csv_file), str(noise), "--json"])
    assert mixed.exit_code == 4
    outcomes = {Path(o["path"]).name: o for o in json.loads(mixed.stdout)}
    assert outcomes["people.csv"]["status"] == "queued" and outcomes["people.csv"]["file"]["size"] > 0
    assert outcomes["noise.bin"]["status"] == "refused" and "415" in outcomes["noise.bin"]["detail"]

    assert runner.invoke(app, ["rows"]).exit_code == 2  # usage: the id is missing
    assert runner.invoke(app, ["upload", str(tmp_path / "absent.csv")]).exit_code == 2
    assert runner.invoke(app, ["export", "x", "--format", "xml"]).exit_code == 2
    assert runner.invoke(app, ["rm", "0" * 32]).exit_code == 1
    other = runner.invoke(app, ["ls", "--url", "http://127.0.0.1:9"])
    assert other.exit_code == 3 and "not signed in to http://127.0.0.1:9" in other.stderr
    help_text = runner.invoke(app, ["--help"]).stdout
    assert "Exit codes" in help_text and "4 a file failed" in " ".join(help_text.split())


def test_a_real_ferry_process_uploads_and_watches(ferry_url: str, account: tuple[str, str], tmp_path: Path, csv_file):
    env = {**os.environ, "FERRY_CONFIG_DIR": str(tmp_path / "cfg"), "FERRY_URL": ferry_url, "COLUMNS": "200"}
    env.pop("FERRY_API_KEY", None)
    ferry = [sys.executable, "-m", "ferry_launcher.cli"]
    login = subprocess.run(
        [*ferry, "login", "--username", account[0]],
        env={**env, "FERRY_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert login.returncode == 0, login.stderr
    upload = subprocess.run(
        [*ferry, "upload", str(csv_file), "--watch"], env=env, capture_output=True, text=True, timeout=60
    )
    assert upload.returncode == 0, upload.stderr
    assert "people.csv" in upload.stderr and "100%" in upload.stderr
    (row,) = [line for line in upload.stdout.splitlines() if "people.csv" in line]
    assert "parsed" in row and "250 rows" in row


def test_watch_a_batch_until_it_completes(signed_in: str, runner: CliRunner, client: FerryClient, csv_file: Path):
    batch = client.create_batch("cli")
    client.upload(csv_file, batch_id=batch.batch_id)
    shown = runner.invoke(app, ["watch", "--batch", batch.batch_id])
    assert shown.exit_code == 0, shown.output
    assert f"batch {batch.batch_id}" in shown.stdout and "batch_completed" in shown.stdout
    as_json = runner.invoke(app, ["watch", "--batch", batch.batch_id, "--json"])
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert lines[-1]["type"] == "batch_completed" and lines[-1]["data"]["counts"] == {"parsed": 1}
    both = runner.invoke(app, ["watch", "some-file", "--batch", batch.batch_id])
    assert both.exit_code == 2
