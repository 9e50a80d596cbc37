"""The console's resumable uploads (tus.js) in Chromium: a large file in chunks, and a resume after a reload.

"Large" is 1 MiB here: the console reads its threshold and chunk size from localStorage,
which the test sets before the page loads.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import User, Watched
from tests.console.test_console import _TRACE_UPLOADS, PARSE_TIMEOUT_MS, sign_in

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

MiB = 1024 * 1024
_SMALL_CHUNKS = f"""
  localStorage.setItem("ferry.upload.resumableOver", "{MiB}");
  localStorage.setItem("ferry.upload.chunkBytes", "{MiB}");
"""


@pytest.fixture
def large_csv(tmp_path: Path) -> Path:
    """About 3.6 MiB: four chunks, the last short."""
    path = tmp_path / "large.csv"
    path.write_text("id,name\n" + "".join(f"{i},name {i}\n" for i in range(200_000)))
    assert 3 * MiB < path.stat().st_size < 4 * MiB
    return path


def _tus_requests(console: Watched) -> list[tuple[str, str, str | None]]:
    """(method, path, Upload-Offset) of every tus request the page makes, noted from now on."""
    seen: list[tuple[str, str, str | None]] = []

    def note(request: Any) -> None:
        path = request.url.removeprefix(console.base_url)
        if path.startswith("/files/tus"):
            seen.append((request.method, path, request.headers.get("upload-offset")))

    console.page.on("request", note)
    return seen


def test_a_large_file_uploads_in_chunks_with_its_bar(console: Watched, user: User, large_csv: Path) -> None:
    page = console.page
    page.add_init_script(_SMALL_CHUNKS)
    sign_in(console, user)
    page.evaluate(_TRACE_UPLOADS)
    seen = _tus_requests(console)

    page.set_input_files("#file-input", large_csv)
    row = page.locator("#upload-list li.upload").filter(has_text="large.csv")
    expect(row).to_have_attribute("data-status", "parsed", timeout=PARSE_TIMEOUT_MS)
    expect(row.locator(".upload-state")).to_have_text("Parsed — 200,000 rows")
    console.shot("uploaded-by-tus")

    size = large_csv.stat().st_size
    assert seen[0][:2] == ("POST", "/files/tus")
    upload = seen[1][1]
    assert [s for s in seen if s[0] == "PATCH"] == [("PATCH", upload, str(at)) for at in range(0, size, MiB)]
    assert row.get_attribute("data-file-id") == upload.rsplit("/", 1)[1]
    # The bar followed the chunks, then the parse; it never went back.
    trace = [e for e in page.evaluate("() => window.__uploadTrace") if e["name"] == "large.csv"]
    uploading = [e["value"] for e in trace if e["status"] == "uploading"]
    assert len(set(uploading)) >= 4 and uploading == sorted(uploading)
    assert page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('ferry.tus:'))") == []
    assert [r for r in console.requests if r.endswith("/files") and "tus" not in r] == []  # no one-shot POST
    assert console.errors == []


def test_choosing_the_file_again_after_a_reload_resumes_it(console: Watched, user: User, large_csv: Path) -> None:
    page = console.page
    page.add_init_script(_SMALL_CHUNKS)
    sign_in(console, user)

    # The second chunk never gets through (as if the connection hung); the user reloads the page.
    patches: list[str] = []

    def hang_the_second_patch(route: Any) -> None:
        if route.request.method != "PATCH":
            route.continue_()
            return
        patches.append(route.request.url)
        if len(patches) == 2:
            return  # neither answered nor passed on: it hangs until the page goes
        route.continue_()

    page.route("**/files/tus/*", hang_the_second_patch)
    page.set_input_files("#file-input", large_csv)
    deadline = time.monotonic() + 15
    while len(patches) < 2:
        assert time.monotonic() < deadline, "the second chunk was never sent"
        page.wait_for_timeout(50)
    (remembered,) = page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('ferry.tus:'))")
    stat = large_csv.stat()
    assert remembered.endswith(f":large.csv:{stat.st_size}:{stat.st_mtime_ns // 1_000_000}")
    console.shot("second-chunk-hanging")
    page.reload()  # the hanging chunk goes with the page, unsent
    page.unroute("**/files/tus/*")
    expect(page.get_by_role("heading", name="Your files")).to_be_visible()

    seen = _tus_requests(console)
    page.set_input_files("#file-input", large_csv)
    row = page.locator("#upload-list li.upload").filter(has_text="large.csv")
    expect(row).to_have_attribute("data-status", "parsed", timeout=PARSE_TIMEOUT_MS)
    console.shot("resumed-and-parsed")

    upload = seen[0][1]
    assert seen[0] == ("HEAD", upload, None)  # where did the server stop? after the first chunk
    assert next(s for s in seen if s[0] == "PATCH") == ("PATCH", upload, str(MiB))
    assert all(s[0] != "POST" for s in seen)
    assert row.get_attribute("data-file-id") == upload.rsplit("/", 1)[1]
    assert page.evaluate("() => Object.keys(localStorage).filter((k) => k.startsWith('ferry.tus:'))") == []

    # Exactly the original bytes: the file's sha256 as the server computed it.
    record = page.evaluate(
        """async (id) => {
            const session = JSON.parse(sessionStorage.getItem("ferry.session"));
            const response = await fetch(`/files/${id}`, {headers: {authorization: `Bearer ${session.access}`}});
            return response.json();
        }""",
        row.get_attribute("data-file-id"),
    )
    assert record["sha256"] == hashlib.sha256(large_csv.read_bytes()).hexdigest()
