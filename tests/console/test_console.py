"""The web console, end to end in headless Chromium against ``ferry dev``.

Each test screenshots its steps (see conftest's ``artifacts``). Waiting is done by
Playwright's auto-retrying assertions, which poll with a deadline.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from tests.console.conftest import PASSWORD, User, Watched

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

FORMATS = Path(__file__).resolve().parents[1] / "fixtures" / "formats"
CSV = "id,name,score\n1,Zoë,9.5\n2,Łukasz,7.25\n3,Ada,8\n".encode()
PARSE_TIMEOUT_MS = 45_000

# Records every state each upload row goes through, so the test can check the bar's whole course.
_TRACE_UPLOADS = """() => {
  window.__uploadTrace = [];
  const list = document.getElementById("upload-list");
  const record = () => {
    for (const row of list.querySelectorAll("li.upload")) {
      const entry = {
        name: row.querySelector(".upload-name").textContent,
        status: row.dataset.status,
        value: row.querySelector("progress").value,
        text: row.querySelector(".upload-state").textContent,
      };
      const last = window.__uploadTrace.findLast((e) => e.name === entry.name);
      if (!last || last.status !== entry.status || last.text !== entry.text) window.__uploadTrace.push(entry);
    }
  };
  new MutationObserver(record).observe(list, {subtree: true, childList: true, characterData: true, attributes: true});
}"""

_DROP = """(files) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, {type: f.type}));
  }
  return transfer;
}"""

RANK = {"uploading": 0, "queued": 1, "parsing": 2, "parsed": 3, "failed": 3, "cancelled": 3}


def drop(console: Watched, files: list[tuple[str, str, bytes]]) -> None:
    """Drag files onto the drop zone, as a user dragging them from their desktop does."""
    payload = [{"name": name, "type": kind, "data": base64.b64encode(data).decode()} for name, kind, data in files]
    transfer = console.page.evaluate_handle(_DROP, payload)
    for event in ("dragenter", "dragover", "drop"):
        console.page.dispatch_event("#drop-zone", event, {"dataTransfer": transfer})


def sign_in(console: Watched, user: User) -> None:
    page = console.page
    page.goto("/")
    form = page.get_by_role("form", name="Sign in")
    form.get_by_label("Username or email").fill(user.username)
    form.get_by_label("Password").fill(user.password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your files")).to_be_visible()


def no_page_scroll(console: Watched) -> None:
    widths = console.page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways: scrollWidth {widths[0]} > clientWidth {widths[1]}"


def upload_via_api(console_url: str, user: User, name: str, data: bytes) -> str:
    """Upload a file and wait until it is parsed (setup for tests about reading, not uploading)."""
    headers = {"authorization": f"Bearer {user.token}"}
    with httpx.Client(base_url=console_url, headers=headers, timeout=30) as client:
        created = client.post("/files", files={"file": (name, data)})
        assert created.status_code == 201, created.text
        file_id = str(created.json()["file_id"])
        deadline = time.monotonic() + PARSE_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            status = client.get(f"/files/{file_id}/progress").json()["status"]
            if status == "parsed":
                return file_id
            assert status not in ("failed", "cancelled"), status
            time.sleep(0.2)
    raise TimeoutError(f"{name} was not parsed in time")


def test_journey(console: Watched) -> None:
    """Register, drop a CSV, a PDF and a file Ferry refuses, follow them, read, search, download, delete."""
    page = console.page
    page.goto("/")
    expect(page.get_by_label("Username or email")).to_be_focused()
    console.shot("sign-in")

    username = f"journey{int(time.time() * 1000) % 10**9}"
    form = page.get_by_role("form", name="Create an account")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Email").fill(f"{username}@example.com")
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Create account and sign in").click()
    expect(page.get_by_role("heading", name="Your files")).to_be_visible()
    expect(page.locator("#who")).to_have_text(username)
    expect(page.locator("#live-state")).to_have_text("Live updates on")
    console.shot("signed-in")

    page.evaluate(_TRACE_UPLOADS)
    drop(
        console,
        [
            ("people.csv", "text/csv", CSV),
            ("document.pdf", "application/pdf", (FORMATS / "document.pdf").read_bytes()),
            ("noise.bin", "application/octet-stream", bytes(range(256)) * 8),
        ],
    )
    rows = page.locator("#upload-list li.upload")
    expect(rows).to_have_count(3)
    for name in ("people.csv", "document.pdf"):
        row = rows.filter(has_text=name)
        expect(row).to_have_attribute("data-status", "parsed", timeout=PARSE_TIMEOUT_MS)
        expect(row.locator("progress")).to_have_attribute("value", "100")
    expect(rows.filter(has_text="people.csv").locator(".upload-state")).to_have_text("Parsed — 3 rows")
    expect(rows.filter(has_text="document.pdf").locator(".upload-state")).to_have_text("Parsed — 3 of 3 pages")
    refused = rows.filter(has_text="noise.bin")
    expect(refused).to_have_attribute("data-status", "failed")
    expect(refused.locator(".upload-state")).to_contain_text("Failed: ")
    # Every bar started on the bytes sent, then only moved forward to its final status.
    trace = page.evaluate("() => window.__uploadTrace")
    for name in ("people.csv", "document.pdf"):
        states = [entry for entry in trace if entry["name"] == name]
        assert states[0]["text"].startswith("Uploading"), states
        ranks = [RANK[entry["status"]] for entry in states]
        assert ranks == sorted(ranks), states
        assert states[-1]["status"] == "parsed", states
    expect(page.locator("#announcer")).not_to_be_empty()
    console.shot("uploaded")

    table = page.locator("#files-body")
    expect(table.locator("tr")).to_have_count(2)
    for name in ("people.csv", "document.pdf"):
        expect(table.locator("tr").filter(has_text=name)).to_have_attribute("data-status", "parsed")
    console.shot("file-list")

    # The CSV as a table: header cells are the columns, row cells the values.
    page.get_by_role("button", name="View people.csv").click()
    viewer = page.locator("#viewer")
    expect(page.locator("#viewer-title")).to_be_focused()
    content = viewer.locator("table.content-table")
    expect(content.locator("thead th")).to_have_text(["#", "idinteger", "namestring", "scorefloat"])
    expect(content.locator("tbody tr")).to_have_count(3)
    expect(content.locator("tbody tr").nth(0).locator("td")).to_have_text(["1", "Zoë", "9.5"])
    expect(content.locator("tbody tr").nth(1).locator("td")).to_have_text(["2", "Łukasz", "7.25"])
    expect(viewer.locator("#viewer-position")).to_have_text("Rows 1–3 of 3")
    console.shot("csv-table")

    # The PDF as the text of its pages.
    page.get_by_role("button", name="View document.pdf").click()
    pages = viewer.locator("article.page")
    expect(pages).to_have_count(3)
    expect(pages.nth(0).get_by_role("heading")).to_have_text("Page 1")
    expect(pages.nth(0).locator(".page-text")).to_contain_text("Page 1: Ferry carries files across.")
    expect(pages.nth(2).locator(".page-text")).to_contain_text("Ça va très bien.")
    console.shot("pdf-pages")
    page.get_by_role("button", name="Close viewer").click()
    expect(viewer).to_be_hidden()
    expect(page.get_by_role("button", name="View document.pdf")).to_be_focused()

    # Search by name, then filter by type.
    page.get_by_label("Search by name").fill("peop")
    expect(table.locator("tr")).to_have_count(1)
    expect(table.locator("tr")).to_contain_text("people.csv")
    console.shot("search")
    page.get_by_label("Search by name").fill("")
    page.get_by_label("Type", exact=True).select_option("pdf")
    expect(table.locator("tr")).to_have_count(1)
    expect(table.locator("tr")).to_contain_text("document.pdf")
    page.get_by_label("Type", exact=True).select_option("")
    page.get_by_label("Status", exact=True).select_option("failed")
    expect(page.locator("#files-empty")).to_be_visible()
    page.get_by_label("Status", exact=True).select_option("")
    expect(table.locator("tr")).to_have_count(2)

    # Download: the original bytes, fetched with the bearer token.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download people.csv").click()
    download = download_info.value
    assert download.suggested_filename == "people.csv"
    assert Path(download.path()).read_bytes() == CSV

    # Delete, after confirming.
    file_id = table.locator("tr").filter(has_text="people.csv").get_attribute("data-file-id")
    confirmations: list[str] = []

    def accept(dialog: Any) -> None:
        confirmations.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Delete people.csv").click()
    expect(table.locator("tr")).to_have_count(1)
    expect(table.locator("tr")).to_contain_text("document.pdf")
    assert confirmations and "people.csv" in confirmations[0]
    expect(page.locator("#announcer")).to_have_text("Deleted people.csv")
    console.shot("deleted")
    token = page.evaluate("() => JSON.parse(sessionStorage.getItem('ferry.session')).access")
    gone = httpx.get(f"{console.base_url}/files/{file_id}", headers={"authorization": f"Bearer {token}"})
    assert gone.status_code == 404

    # Signing out forgets the tokens.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('ferry.session')") is None

    assert console.foreign_requests() == []
    assert console.errors == []


def test_keyboard_only_upload(console: Watched, user: User, tmp_path: Path) -> None:
    """Sign in and upload through the file picker with the keyboard alone; focus is visible on the way."""
    page = console.page
    # Listening early turns on Chromium's file-chooser interception before any key is pressed
    # (turned on only inside expect_file_chooser, it can lose the race with the keypress).
    page.on("filechooser", lambda _chooser: None)
    page.goto("/")
    expect(page.get_by_label("Username or email")).to_be_focused()
    page.keyboard.type(user.username)
    page.keyboard.press("Tab")
    page.keyboard.type(user.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your files")).to_be_visible()

    drop_zone = page.locator("#drop-zone")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "drop-zone":
            break
    expect(drop_zone).to_be_focused()
    outline = drop_zone.evaluate("(el) => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth")
    assert outline.startswith("solid") and not outline.endswith(" 0px"), outline
    console.shot("drop-zone-focused")

    picked = tmp_path / "keyboard.csv"
    picked.write_bytes(b"k,v\na,1\nb,2\n")
    with page.expect_file_chooser() as chooser_info:
        page.keyboard.press("Enter")
    chooser = chooser_info.value
    assert chooser.is_multiple()
    chooser.set_files(picked)
    row = page.locator("#upload-list li.upload").filter(has_text="keyboard.csv")
    expect(row).to_have_attribute("data-status", "parsed", timeout=PARSE_TIMEOUT_MS)
    expect(row.locator("progress")).to_have_accessible_name("keyboard.csv Parsed — 2 rows")
    expect(page.locator("#files-body tr").filter(has_text="keyboard.csv")).to_have_attribute("data-status", "parsed")
    console.shot("uploaded-by-keyboard")
    assert console.errors == []


def test_narrow_screen_and_sheets(console: Watched, user: User, console_url: str) -> None:
    """At 360 px the page never scrolls sideways (a wide table scrolls in its own box); sheets are selectable."""
    columns = [f"column_{i:02d}_with_a_long_name" for i in range(24)]
    wide = (",".join(columns) + "\n" + ",".join(f"value {i} that is long" for i in range(24)) + "\n").encode()
    upload_via_api(console_url, user, "wide.csv", wide)
    upload_via_api(console_url, user, "workbook.xlsx", (FORMATS / "workbook.xlsx").read_bytes())

    page = console.page
    page.set_viewport_size({"width": 360, "height": 780})
    page.goto("/")
    no_page_scroll(console)
    console.shot("narrow-sign-in")
    sign_in(console, user)
    expect(page.locator("#files-body tr")).to_have_count(2)
    no_page_scroll(console)
    console.shot("narrow-files")

    page.get_by_role("button", name="View wide.csv").click()
    scroller = page.locator("#viewer .table-scroll")
    expect(scroller.locator("thead th")).to_have_count(25)
    no_page_scroll(console)
    assert scroller.evaluate("(el) => el.scrollWidth > el.clientWidth"), "the wide table should scroll in its box"
    console.shot("narrow-wide-table")

    page.get_by_role("button", name="View workbook.xlsx").click()
    sheet = page.get_by_label("Sheet", exact=True)
    expect(sheet).to_be_visible()
    expect(sheet.locator("option")).to_have_text(["People", "Stock"])
    expect(page.locator("#viewer caption")).to_contain_text("sheet People")
    sheet.select_option("Stock")
    expect(page.locator("#viewer caption")).to_contain_text("sheet Stock")
    no_page_scroll(console)
    console.shot("narrow-workbook-stock")
    assert console.errors == []


def test_a_stale_access_token_is_refreshed(console: Watched, user: User) -> None:
    """A refused access token is replaced through the refresh token, for the API and the WebSocket alike."""
    page = console.page
    sign_in(console, user)
    expect(page.locator("#live-state")).to_have_text("Live updates on")
    before = page.evaluate("() => JSON.parse(sessionStorage.getItem('ferry.session'))")
    page.evaluate(
        """() => {
          const session = JSON.parse(sessionStorage.getItem('ferry.session'));
          sessionStorage.setItem('ferry.session', JSON.stringify({...session, access: 'not-a-token'}));
        }"""
    )
    page.reload()
    expect(page.get_by_role("heading", name="Your files")).to_be_visible()
    expect(page.locator("#files-summary")).to_have_text("No files")
    expect(page.locator("#live-state")).to_have_text("Live updates on")
    after = page.evaluate("() => JSON.parse(sessionStorage.getItem('ferry.session'))")
    assert after["access"] not in ("not-a-token", before["access"])
    assert after["refresh"] != before["refresh"]  # refresh tokens rotate
    console.shot("refreshed")
    # Chromium logs the one refused handshake (made with the stale token) as an error: expected here.
    assert [e for e in console.errors if "WebSocket connection" not in e] == []


def test_a_parsed_file_is_analysed_and_converted(console: Watched, user: User, console_url: str) -> None:
    """The viewer's jobs panel: analyse the text, convert to another format, download through a presigned link."""
    reviews = (
        b"id,review\n"
        b'1,"This kettle is excellent. It boils quickly and looks wonderful in our kitchen."\n'
        b'2,"A great kettle, quiet and beautiful. We love it."\n'
    )
    upload_via_api(console_url, user, "reviews.csv", reviews)
    page = console.page
    sign_in(console, user)
    page.get_by_role("button", name="View reviews.csv").click()
    panel = page.get_by_role("region", name="Analysis and conversion")
    expect(panel).to_be_visible()

    panel.get_by_role("button", name="Analyse text").click()
    expect(page.locator("#analysis-facts")).to_contain_text("English (en)", timeout=PARSE_TIMEOUT_MS)
    expect(page.locator("#analysis-facts")).to_contain_text("positive")
    expect(page.locator("#analysis-keywords")).to_contain_text("kettle")
    console.shot("analysis")

    panel.get_by_label("Convert to").select_option("ndjson")
    panel.get_by_role("button", name="Convert").click()
    link = page.locator("#conversion-link")
    expect(link).to_have_text("Download reviews.ndjson", timeout=PARSE_TIMEOUT_MS)
    fetched = httpx.get(urljoin(console_url, str(link.get_attribute("href"))))  # no token: the URL is signed
    assert fetched.status_code == 200
    assert [json.loads(line)["id"] for line in fetched.text.splitlines()] == [1, 2]

    panel.get_by_label("Convert to").select_option("pdf")
    panel.get_by_role("button", name="Convert").click()
    expect(page.locator("#jobs-status")).to_contain_text("allowed: csv", timeout=PARSE_TIMEOUT_MS)
    console.shot("conversion")
    assert console.errors == [], console.errors
