"""``ferry upload`` of large files: by tus, through the resume store in the config folder, resumed on the next run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from ferry_launcher.cli import app
from ferry_sdk import FerryClient

from .test_resumable import CHUNK, Killed, MiB, Wire

SMALL = ["--resumable-over", str(MiB), "--chunk-size", str(CHUNK)]


@pytest.fixture
def large_csv(tmp_path: Path) -> Path:
    path = tmp_path / "large.csv"
    path.write_text("id,name\n" + "".join(f"{i},name {i}\n" for i in range(350_000)))
    assert path.stat().st_size > 3 * CHUNK
    return path


def test_a_large_file_goes_by_tus_with_its_bar(
    signed_in: str, runner: CliRunner, config_dir: Path, large_csv: Path
) -> None:
    result = runner.invoke(app, ["upload", str(large_csv), *SMALL])
    assert result.exit_code == 0, result.output
    bars = [line for line in result.stderr.splitlines() if "large.csv" in line]
    assert bars and "100%" in bars[-1]
    listed = json.loads(runner.invoke(app, ["ls", "--json"]).stdout)
    (item,) = listed["items"]
    assert item["sha256"] == hashlib.sha256(large_csv.read_bytes()).hexdigest()
    # The store lives beside the session, and forgets an upload once it is done.
    assert json.loads((config_dir / "uploads.json").read_text()) == {}


def test_the_next_run_resumes_an_upload_a_dead_process_left(
    signed_in: str, runner: CliRunner, config_dir: Path, account: tuple[str, str], large_csv: Path
) -> None:
    # A first `ferry upload` (here: the SDK with the same store, user and server) dies in its third chunk.
    store = config_dir / "uploads.json"
    wire = Wire(cut=2, fault=Killed())
    with FerryClient(signed_in, transport=wire, resumable_threshold=MiB, chunk_size=CHUNK, resume_store=store) as first:
        first.login(*account)
        with pytest.raises(Killed):
            first.upload(large_csv)
    (entry,) = json.loads(store.read_text()).values()
    upload_id = entry["url"].rsplit("/", 1)[1]
    with httpx.Client(base_url=signed_in) as http:
        token = http.post("/auth/login", json={"username": account[0], "password": account[1]}).json()["access_token"]
        head = http.head(entry["url"], headers={"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"})
    assert int(head.headers["upload-offset"]) == 2 * CHUNK

    result = runner.invoke(app, ["upload", str(large_csv), *SMALL, "--json"])
    assert result.exit_code == 0, result.output
    (outcome,) = json.loads(result.stdout)
    assert outcome["file"]["file_id"] == upload_id  # the same upload, finished, not a second one
    assert outcome["file"]["sha256"] == hashlib.sha256(large_csv.read_bytes()).hexdigest()
    assert json.loads(store.read_text()) == {}
    assert json.loads(runner.invoke(app, ["ls", "--json"]).stdout)["total"] == 1
