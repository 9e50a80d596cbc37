"""``GET /analytics/*`` over a seeded history whose answers are worked out by hand."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

import pytest
import pytest_asyncio

from ferry_core.events import utcnow
from ferry_ingest.analytics_rollups import Rollups
from ferry_ingest.analytics_routes import start_analytics
from ferry_ingest.analytics_window import Window
from ferry_ingest.errors import InvalidContent
from ferry_ingest.settings import IngestSettings
from ferry_ingest.ttl_cache import TtlCache
from ferry_testkit.tokens import TokenFactory

Doc = dict[str, Any]
NOW = utcnow()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def record(
    file_id: str,
    owner: str,
    fmt: str,
    size: int,
    status: str,
    created: datetime,
    org: str = "team",
    duration_ms: int | None = None,
    **extra: Any,
) -> Doc:
    return {
        "_id": file_id,
        "owner_id": owner,
        "org_id": org,
        "filename": f"{file_id}.{fmt}",
        "content_type": "application/octet-stream",
        "format": fmt,
        "size": size,
        "status": status,
        "created_at": created,
        "updated_at": created,
        "duration_ms": duration_ms,
        "pending_events": [],
        "has_pending": False,
        **extra,
    }


# Team "team": alice (owner), bob (member), carol (viewer), dave (member, never uploads), erin (removed).
HISTORY = [
    record("f1", "alice", "csv", 100, "parsed", at("2026-03-02T10:00:00"), duration_ms=100),  # Monday
    record("f2", "alice", "csv", 200, "parsed", at("2026-03-08T23:59:59"), duration_ms=300),  # Sunday: same week
    record("f3", "alice", "pdf", 1000, "failed", at("2026-03-09T00:00:00")),  # Monday: the next week
    record("f4", "bob", "xlsx", 50, "parsed", at("2026-03-31T23:00:00"), duration_ms=1000),
    record("f5", "bob", "csv", 10, "cancelled", at("2026-04-01T00:00:00")),  # on the range's exclusive end
    record("f6", "alice", "csv", 5000, "parsed", at("2026-03-03T00:00:00"), duration_ms=9999, deleting=True),
    record("f7", "alice", "json", 0, "uploading", at("2026-04-02T00:00:00")),
    record("f8", "alice", "csv", 999, "parsed", at("2026-03-02T00:00:00"), org="other", duration_ms=5),
    record("f9", "alice", "csv", 1, "parsed", NOW - timedelta(days=1), duration_ms=50),
]
MEMBERS = [("alice", "owner"), ("bob", "member"), ("carol", "viewer"), ("dave", "member"), ("erin", None)]


@pytest_asyncio.fixture
async def seeded(gateway: Gateway) -> Gateway:
    db = gateway.infra.db
    await db["files"].insert_many(HISTORY)
    await db["org_projection"].insert_many(
        [{"_id": "team", "personal": False, "revision": 1}, {"_id": "zed", "personal": True, "revision": 1}]
    )
    await db["member_projection"].insert_many(
        [
            {"_id": f"team:{user}", "org_id": "team", "user_id": user, "role": role, "revision": 1}
            for user, role in MEMBERS
        ]
    )
    # The history is written as if before the rollups existed (its updated_at is in the past, which no
    # real write leaves): once the gateway's start-up refresh is over, drop them so the next read builds all.
    await gateway.app.state.analytics.repo.rollups.refresh()
    await db["analytics_rollups"].delete_many({})
    return gateway


def auth(tokens: TokenFactory, user: str, org: str | None = "team", role: str = "user") -> dict[str, str]:
    headers = {"Authorization": f"Bearer {tokens.issue(user, role=role)}"}
    return headers | {"X-Ferry-Org": org} if org else headers


async def get(gw: Gateway, path: str, headers: dict[str, str], **params: Any) -> Doc:
    response = await gw.client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: Doc = response.json()
    return body


async def test_me_counts_the_callers_own_files_in_the_active_org(seeded: Gateway, tokens: TokenFactory) -> None:
    body = await get(
        seeded,
        "/analytics/me",
        auth(tokens, "alice"),
        **{"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z", "granularity": "week"},
    )
    # f1, f2, f3, f7, f9: not f6 (being deleted), not f8 (another organization), not bob's.
    assert body["totals"] == {"files": 5, "bytes": 1301}
    assert body["formats"] == [
        {"format": "pdf", "files": 1, "bytes": 1000},
        {"format": "csv", "files": 3, "bytes": 301},
        {"format": "json", "files": 1, "bytes": 0},
    ]
    assert body["parse"] == {"parsed": 3, "failed": 1, "cancelled": 0, "success_rate": 0.75}
    # Weeks start on Monday: 1 March 2026 is a Sunday, so the first period starts on 23 February.
    assert [(p["period_start"][:10], p["files"], p["bytes"]) for p in body["uploads"]] == [
        ("2026-02-23", 0, 0),
        ("2026-03-02", 2, 300),
        ("2026-03-09", 1, 1000),
        ("2026-03-16", 0, 0),
        ("2026-03-23", 0, 0),
        ("2026-03-30", 0, 0),
    ]
    assert [r["file_id"] for r in body["recent"]] == ["f9", "f7", "f3", "f2", "f1"]
    assert body["recent"][1] == {
        "file_id": "f7",
        "filename": "f7.json",
        "status": "uploading",
        "created_at": "2026-04-02T00:00:00Z",
    }
    assert (body["org_id"], body["user_id"], body["granularity"]) == ("team", "alice", "week")
    assert body["from"] == "2026-03-01T00:00:00Z"


async def test_me_defaults_to_the_last_30_days_by_day(seeded: Gateway, tokens: TokenFactory) -> None:
    body = await get(seeded, "/analytics/me", auth(tokens, "alice"))
    assert body["granularity"] == "day"
    assert len(body["uploads"]) == 31  # 30 days back from now touch 31 UTC days
    assert sum(p["files"] for p in body["uploads"]) == 1  # f9, yesterday
    assert body["uploads"][-2]["period_start"][:10] == (NOW - timedelta(days=1)).date().isoformat()


async def test_me_of_a_member_without_files(seeded: Gateway, tokens: TokenFactory) -> None:
    body = await get(seeded, "/analytics/me", auth(tokens, "carol"))
    assert body["totals"] == {"files": 0, "bytes": 0}
    assert body["parse"]["success_rate"] is None
    assert body["recent"] == [] and body["formats"] == []


async def test_org_overview(seeded: Gateway, tokens: TokenFactory) -> None:
    headers = auth(tokens, "alice")
    body = await get(
        seeded,
        "/analytics/org",
        headers,
        **{"from": "2026-03-01T00:00:00Z", "to": "2026-05-01T00:00:00Z", "granularity": "month"},
    )
    assert body["totals"] == {"files": 7, "bytes": 1361}
    assert body["formats"] == [
        {"format": "pdf", "files": 1, "bytes": 1000},
        {"format": "csv", "files": 4, "bytes": 311},
        {"format": "xlsx", "files": 1, "bytes": 50},
        {"format": "json", "files": 1, "bytes": 0},
    ]
    assert body["member_count"] == 2
    assert body["top_members"] == [
        {"user_id": "alice", "files": 5, "bytes": 1301},
        {"user_id": "bob", "files": 2, "bytes": 60},
    ]
    assert [(p["period_start"][:10], p["uploads"], p["bytes"], p["failed"]) for p in body["trends"]] == [
        ("2026-03-01", 4, 1350, 1),
        ("2026-04-01", 2, 10, 0),
    ]
    # csv: 100, 300, 50 ms → mean 150, p95 (nearest rank: the 3rd of 3) 300; f6 is being deleted.
    assert body["slowest_formats"] == [
        {"format": "xlsx", "files": 1, "mean_ms": 1000.0, "p95_ms": 1000.0},
        {"format": "csv", "files": 3, "mean_ms": 150.0, "p95_ms": 300.0},
    ]
    # Never uploaded first (carol, dave), then bob (last on 1 April); erin was removed; alice uploaded yesterday.
    assert body["inactive_days"] == 30 and body["inactive_count"] == 3
    assert [(m["user_id"], m["role"], m["last_upload_at"]) for m in body["inactive_members"]] == [
        ("carol", "viewer", None),
        ("dave", "member", None),
        ("bob", "member", "2026-04-01T00:00:00Z"),
    ]
    # The same figures as GET /files/stats and GET /files for the same organization.
    stats = await get(seeded, "/files/stats", headers)
    assert (stats["total_files"], stats["total_bytes"]) == (body["totals"]["files"], body["totals"]["bytes"])
    assert (await get(seeded, "/files", headers))["total"] == body["totals"]["files"]


async def test_org_range_end_is_exclusive_and_limit_cuts_the_top_lists(seeded: Gateway, tokens: TokenFactory) -> None:
    body = await get(
        seeded,
        "/analytics/org",
        auth(tokens, "alice"),
        **{"from": "2026-03-30T00:00:00Z", "to": "2026-04-01T00:00:00Z", "limit": 1, "inactive_days": 3650},
    )
    # f4 at 23:00 on 31 March is in; f5 at midnight on 1 April is not.
    assert [(p["period_start"][:10], p["uploads"]) for p in body["trends"]] == [("2026-03-30", 0), ("2026-03-31", 1)]
    assert [m["user_id"] for m in body["top_members"]] == ["alice"]
    assert [f["format"] for f in body["slowest_formats"]] == ["xlsx"]
    assert [m["user_id"] for m in body["inactive_members"]] == ["carol", "dave"]


async def test_a_personal_orgs_only_member_is_its_owner(gateway: Gateway, tokens: TokenFactory) -> None:
    body = await get(gateway, "/analytics/org", auth(tokens, "solo", org=None))
    assert body["org_id"] == "solo" and body["totals"] == {"files": 0, "bytes": 0}
    assert body["inactive_members"] == [{"org_id": "solo", "user_id": "solo", "role": "owner", "last_upload_at": None}]


async def test_platform_overview(seeded: Gateway, tokens: TokenFactory) -> None:
    body = await get(seeded, "/analytics/platform", auth(tokens, "root", org=None, role="admin"))
    assert body["totals"] == {"files": 8, "bytes": 2360}
    assert body["org_count"] == 2
    assert body["orgs"] == [
        {"org_id": "team", "files": 7, "bytes": 1361},
        {"org_id": "other", "files": 1, "bytes": 999},
    ]
    assert body["top_members"][0] == {"user_id": "alice", "files": 6, "bytes": 2300}
    inactive = {(m["org_id"], m["user_id"]) for m in body["inactive_members"]}
    assert inactive == {("team", "carol"), ("team", "dave"), ("team", "bob"), ("zed", "zed")}
    stats = await get(seeded, "/files/stats", auth(tokens, "root", org=None, role="admin"))
    assert stats["total_files"] == 8
    params = {"from": "2026-03-01T00:00:00Z", "to": "2026-04-01T12:00:00Z", "granularity": "month"}
    body = await get(seeded, "/analytics/platform", auth(tokens, "root", org=None, role="admin"), **params)
    # March: f1-f4 of team and f8 of other; 1 April until noon: f5 (a partial day, read from the records).
    assert [(p["period_start"][:10], p["uploads"], p["failed"]) for p in body["trends"]] == [
        ("2026-03-01", 5, 1),
        ("2026-04-01", 1, 0),
    ]


@pytest.mark.parametrize(
    ("user", "org", "role", "path", "status"),
    [
        ("bob", "team", "user", "/analytics/org", 403),
        ("carol", "team", "user", "/analytics/org", 403),
        ("carol", "team", "user", "/analytics/me", 200),
        ("mallory", "team", "user", "/analytics/me", 404),
        ("mallory", "team", "user", "/analytics/org", 404),
        ("alice", "team", "user", "/analytics/platform", 403),
        ("root", "team", "admin", "/analytics/org", 200),
    ],
)
async def test_who_may_read_what(
    seeded: Gateway, tokens: TokenFactory, user: str, org: str, role: str, path: str, status: int
) -> None:
    response = await seeded.client.get(path, headers=auth(tokens, user, org, role))
    assert response.status_code == status, response.text
    if status != 200:
        assert isinstance(response.json()["detail"], str)


async def test_unauthenticated_is_401(gateway: Gateway) -> None:
    assert (await gateway.client.get("/analytics/me")).status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        {"from": "2026-03-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"},
        {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},  # 6 years of days
        {"granularity": "hour"},
        {"from": "yesterday"},
        {"limit": 0},
        {"limit": 1001},
        {"inactive_days": 0},
    ],
)
async def test_bad_parameters_are_422(gateway: Gateway, tokens: TokenFactory, params: Doc) -> None:
    response = await gateway.client.get("/analytics/org", headers=auth(tokens, "solo", org=None), params=params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


async def test_six_years_by_month_is_fine(gateway: Gateway, tokens: TokenFactory) -> None:
    params = {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "granularity": "month"}
    body = await get(gateway, "/analytics/me", auth(tokens, "solo", org=None), **params)
    assert len(body["uploads"]) == 72


async def test_answers_are_cached_for_a_few_seconds(seeded: Gateway, tokens: TokenFactory) -> None:
    cache: TtlCache = seeded.app.state.analytics.cache
    cache.ttl = 0.5
    headers = auth(tokens, "bob")
    assert (await get(seeded, "/analytics/me", headers))["totals"]["files"] == 2
    await seeded.infra.db["files"].insert_one(record("g1", "bob", "csv", 7, "queued", NOW))
    # Within the TTL the cached answer stands; the organization's list already shows the new file.
    assert (await get(seeded, "/analytics/me", headers))["totals"]["files"] == 2
    assert (await get(seeded, "/files", headers))["total"] == 8
    deadline = time.monotonic() + 5
    while (await get(seeded, "/analytics/me", headers))["totals"]["files"] != 3:
        assert time.monotonic() < deadline, "the cached answer never expired"
        await asyncio.sleep(0.05)


# -- the parts on their own ------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_cache_expires_and_stays_bounded() -> None:
    clock = FakeClock()
    cache = TtlCache(ttl=5, max_entries=2, clock=clock)
    calls: list[str] = []

    async def compute(key: str) -> str:
        calls.append(key)
        return key.upper()

    assert await cache.get_or_compute("a", lambda: compute("a")) == "A"
    assert await cache.get_or_compute("a", lambda: compute("a")) == "A"
    assert calls == ["a"]
    clock.now = 5.0
    await cache.get_or_compute("a", lambda: compute("a"))
    assert calls == ["a", "a"]
    await cache.get_or_compute("b", lambda: compute("b"))
    await cache.get_or_compute("c", lambda: compute("c"))
    assert len(cache) == 2  # "a", the least recently used, went
    await cache.get_or_compute("a", lambda: compute("a"))
    assert calls == ["a", "a", "b", "c", "a"]


async def test_concurrent_misses_share_one_computation() -> None:
    cache = TtlCache(ttl=5, max_entries=10)
    calls = 0

    async def slow() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 42

    assert await asyncio.gather(*(cache.get_or_compute("k", slow) for _ in range(5))) == [42] * 5
    assert calls == 1


async def test_a_failed_computation_is_not_cached() -> None:
    cache = TtlCache(ttl=5, max_entries=10)

    async def boom() -> int:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        await cache.get_or_compute("k", boom)

    async def fine() -> int:
        return 1

    assert await cache.get_or_compute("k", fine) == 1


def test_month_periods_cross_the_year() -> None:
    window = Window.of(at("2025-11-15T00:00:00"), at("2026-02-01T00:00:00"), "month", NOW)
    assert [p.date().isoformat() for p in window.period_starts()] == [
        "2025-11-01",
        "2025-12-01",
        "2026-01-01",
    ]


def test_two_years_of_days_is_the_limit() -> None:
    start = at("2024-01-01T00:00:00")
    assert len(Window.of(start, start + timedelta(days=732), "day", NOW).period_starts()) == 732
    with pytest.raises(InvalidContent):
        Window.of(start, start + timedelta(days=733), "day", NOW)


# -- the rollups follow every change --------------------------------------------------------


async def _agrees_with_stats(gw: Gateway, headers: dict[str, str]) -> Doc:
    """The organization's analytics, checked against GET /files/stats for the same organization."""
    body = await get(gw, "/analytics/org", headers, **{"from": "2026-03-01T00:00:00Z", "to": "2026-05-01T00:00:00Z"})
    stats = await get(gw, "/files/stats", headers)
    assert (body["totals"]["files"], body["totals"]["bytes"]) == (stats["total_files"], stats["total_bytes"])
    assert {f["format"]: f["files"] for f in body["formats"]} == stats["by_type"]
    assert sum(m["files"] for m in body["top_members"]) == stats["total_files"]
    return body


async def test_rollups_follow_uploads_changes_deletions_and_abandoned_uploads(
    seeded: Gateway, tokens: TokenFactory
) -> None:
    seeded.app.state.analytics.cache.ttl = 0
    alice = auth(tokens, "alice")
    files = seeded.infra.db["files"]
    before = await _agrees_with_stats(seeded, alice)
    march = next(p for p in before["trends"] if p["period_start"].startswith("2026-03-31"))
    assert (march["uploads"], march["failed"]) == (1, 0)

    # The parser's verdict changes a record (as the projection writes it: updated_at moves).
    await files.update_one({"_id": "f4"}, {"$set": {"status": "failed", "updated_at": utcnow()}})
    body = await _agrees_with_stats(seeded, alice)
    march = next(p for p in body["trends"] if p["period_start"].startswith("2026-03-31"))
    assert (march["uploads"], march["failed"]) == (1, 1)
    assert [f["format"] for f in body["slowest_formats"]] == ["csv"]

    # A real upload through the API, by bob, who was inactive.
    response = await seeded.client.post(
        "/files", headers=auth(tokens, "bob"), files={"file": ("new.csv", b"a,b\n1,2\n", "text/csv")}
    )
    assert response.status_code == 201, response.text
    body = await get(seeded, "/analytics/org", alice)
    assert body["totals"]["files"] == 8
    # The default range ends now: today (the upload) and yesterday (f9) are its last two days.
    assert [p["uploads"] for p in body["trends"][-2:]] == [1, 1]
    assert sum(p["uploads"] for p in body["trends"]) == 2
    assert "bob" not in [m["user_id"] for m in body["inactive_members"]]

    # A real deletion: the relay removes the record once file.deleted.v1 is out.
    assert (await seeded.client.delete("/files/f3", headers=alice)).status_code in (200, 202, 204)
    deadline = time.monotonic() + 10
    while await files.find_one({"_id": "f3"}) is not None:
        assert time.monotonic() < deadline, "the relay never removed the record"
        await asyncio.sleep(0.05)
    body = await _agrees_with_stats(seeded, alice)
    assert "pdf" not in [f["format"] for f in body["formats"]]

    # An upload in progress counts; abandoned, its record goes without a trace (no updated_at, no relay).
    await files.insert_one(record("up1", "carol", "csv", 0, "uploading", utcnow()))
    assert (await get(seeded, "/analytics/org", alice))["totals"]["files"] == 8
    await files.delete_one({"_id": "up1"})
    body = await _agrees_with_stats(seeded, alice)
    assert body["totals"]["files"] == 7


async def test_a_removal_marked_by_one_replica_is_seen_by_another(mongo_db: Any) -> None:
    files = mongo_db["files"]
    day = at("2026-05-04T10:00:00")
    await files.insert_many(
        [record("r1", "alice", "csv", 10, "parsed", day), record("r2", "bob", "csv", 5, "parsed", day)]
    )
    this, other = Rollups(mongo_db), Rollups(mongo_db)
    await this.ensure_indexes()
    await other.refresh()
    assert (await other.overall("team") or {})["files"] == 2
    # The relay on this replica removes r1's record (no write left an updated_at behind to find).
    removed = await files.find_one_and_delete({"_id": "r1"})
    await this.removed(removed)
    await other.refresh()
    assert (await other.overall("team") or {})["files"] == 1
    assert await mongo_db["analytics_rollups"].count_documents({"level": "removed"}) == 0  # marks are spent


async def test_a_start_brings_the_rollups_up_to_date_before_any_read(mongo_db: Any, tmp_path: Any) -> None:
    day = at("2026-05-04T10:00:00")
    await mongo_db["files"].insert_many([record(f"w{i}", "alice", "csv", 10, "parsed", day) for i in range(3)])
    analytics = await start_analytics(mongo_db, IngestSettings(data_dir=tmp_path))
    analytics.warm()
    try:
        deadline = time.monotonic() + 10
        while (await analytics.repo.rollups.overall("team") or {}).get("files") != 3:
            assert time.monotonic() < deadline, "the rollups were not built at start"
            await asyncio.sleep(0.05)
    finally:
        await analytics.stop()
