"""The console's organization switcher and analytics view, in headless Chromium against ``ferry dev``.

The charts are Chart.js canvases: the test reads what each chart was given through
``Chart.getChart(canvas)``, the library's own handle on a canvas's chart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.console.conftest import User, Watched
from tests.console.test_console import CSV, FORMATS, drop, sign_in, upload_via_api

expect: Any = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed").expect

_CHARTS = """() => Object.fromEntries([...document.querySelectorAll("canvas")].map((canvas) => {
  const chart = Chart.getChart(canvas);
  return [canvas.id, chart ? {
    type: chart.config.type,
    labels: chart.data.labels,
    datasets: chart.data.datasets.map((d) => ({label: d.label, data: d.data})),
    drawn: canvas.width > 0 && canvas.height > 0,
    description: canvas.getAttribute("aria-label"),
  } : null];
}))"""


_DRAWN = "(ids) => ids.every((id) => Chart.getChart(id))"


def charts(console: Watched) -> dict[str, Any]:
    return dict(console.page.evaluate(_CHARTS))


def series(chart: dict[str, Any], index: int = 0) -> dict[str, float]:
    return dict(zip(chart["labels"], chart["datasets"][index]["data"], strict=True))


def create_org(console_url: str, user: User, name: str) -> str:
    with httpx.Client(base_url=console_url, headers={"authorization": f"Bearer {user.token}"}, timeout=30) as client:
        created = client.post("/orgs", json={"name": name})
        assert created.status_code == 201, created.text
        return str(created.json()["org_id"])


def test_analytics_charts_and_the_organization_switcher(console: Watched, user: User, console_url: str) -> None:
    pdf = (FORMATS / "document.pdf").read_bytes()
    for name, data in (("a.csv", CSV), ("b.csv", CSV), ("document.pdf", pdf)):
        upload_via_api(console_url, user, name, data)
    org_id = create_org(console_url, user, "Analysts")
    page = console.page
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    sent: list[tuple[str, str, str | None]] = []
    page.on("request", lambda r: sent.append((r.method, r.url, r.headers.get("x-ferry-org"))))

    page.emulate_media(reduced_motion="reduce")  # the charts then skip their animations: a still screenshot
    sign_in(console, user)
    expect(page.locator("#org-line")).to_have_text("In your personal organization")
    page.get_by_role("button", name="Analytics").click()
    expect(page.locator("#analytics-summary")).to_contain_text("3 files")
    expect(page.locator("#org-analytics")).to_be_visible()  # the owner of the personal organization manages it
    expect(page.locator("#caption-success")).to_have_text("Parse success rate: 100.0%")
    # The organization's charts come after two more requests: wait for them to be drawn.
    page.wait_for_function(_DRAWN, arg=["chart-members", "chart-slowest"], timeout=30_000)

    drawn = charts(console)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    uploads = drawn["chart-uploads"]
    assert uploads["type"] == "bar" and len(uploads["labels"]) >= 30 and uploads["labels"][-1] == today
    assert series(uploads)[today] == 3 and sum(series(uploads).values()) == 3
    assert drawn["chart-formats"]["type"] == "doughnut" and series(drawn["chart-formats"]) == {"csv": 2, "pdf": 1}
    assert series(drawn["chart-success"]) == {"Parsed": 3, "Failed": 0, "Cancelled": 0}
    assert series(drawn["chart-members"]) == {user.username: 2 * len(CSV) + len(pdf)}
    slowest = drawn["chart-slowest"]
    assert set(slowest["labels"]) == {"csv", "pdf"} and [d["label"] for d in slowest["datasets"]] == [
        "Mean",
        "95th percentile",
    ]
    assert all(chart["drawn"] for chart in drawn.values()), {name: chart["drawn"] for name, chart in drawn.items()}
    assert "csv 2" in drawn["chart-formats"]["description"]
    console.shot("analytics")

    # Another organization: its (empty) figures, its files, its live updates, its uploads.
    page.get_by_label("Organization", exact=True).select_option(label="Analysts (owner)")
    expect(page.locator("#org-line")).to_have_text("In Analysts, as owner")
    expect(page.locator("#analytics-summary")).to_contain_text("0 files")
    assert series(charts(console)["chart-formats"]) == {}
    expect(page.locator("#live-state")).to_have_text("Live updates on")
    assert sockets[-1].endswith(f"/ws?org={org_id}")
    console.shot("analytics-other-org")

    page.get_by_role("button", name="Files").click()
    expect(page.locator("#files-empty")).to_be_visible()
    drop(console, [("in-org.csv", "text/csv", CSV)])
    expect(page.locator("#files-body tr")).to_have_count(1)
    expect(page.locator("#files-body")).to_contain_text("in-org.csv")
    expect(page.locator("#files-body")).to_contain_text("parsed", timeout=45_000)
    posted = [org for method, url, org in sent if method == "POST" and url.endswith("/files")]
    assert posted == [org_id]
    assert any(method == "GET" and "/files?" in url and org == org_id for method, url, org in sent)

    page.get_by_label("Organization", exact=True).select_option(label="Personal")
    expect(page.locator("#files-body tr")).to_have_count(3)
    assert console.errors == []
