"""The audit log: auth's own actions through the real endpoints, entries from other services
through the bus, stored once, read by admins only, filtered, paged and exported; never changed."""

from __future__ import annotations

import ast
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ferry_auth.audit_log import AUDIT_LOG, AUDIT_QUEUE, AuditConsumer, AuditLog
from ferry_core.audit import AuditAction, AuditRecorder, AuditTarget
from ferry_core.events import AuditRecorded, Envelope

WRONG = "not the password at all"


async def _entries(api, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get("/audit", params={"limit": 500, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _wait_for_entry(api, headers: dict[str, str], count: int = 1, **params: Any) -> list[dict[str, Any]]:
    """Entries matching ``params`` once at least ``count`` are stored (the consumer runs behind the bus)."""
    deadline = time.monotonic() + 5
    while True:
        found = await _entries(api, headers, **params)
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"no {count} audit entries for {params}: {found}"
        await asyncio.sleep(0.02)


async def test_sign_ins_ok_failed_and_throttled_are_recorded(api) -> None:
    alice, _ = await api.user("alice")
    admin = await api.admin()
    assert (await api.client.post("/auth/login", json={"username": "alice", "password": WRONG})).status_code == 401
    assert (await api.client.post("/auth/login", json={"username": "nobody", "password": WRONG})).status_code == 401

    ok = await _wait_for_entry(api, admin, action="auth.login", actor=alice["id"])
    assert ok[0]["outcome"] == "success"
    assert ok[0]["actor_name"] == "alice"
    assert ok[0]["target"] == {"type": "user", "id": alice["id"]}
    assert ok[0]["client_address"] == "127.0.0.1"
    assert ok[0]["request_id"] and ok[0]["correlation_id"]
    assert ok[0]["org_id"] is None
    assert ok[0]["source"] == "ferry-auth"

    failed = await _wait_for_entry(api, admin, action="auth.login_failed", target_id=alice["id"])
    assert [(e["outcome"], e["reason"], e["actor_id"]) for e in failed] == [
        ("failure", "invalid_credentials", alice["id"])
    ]
    anonymous = await _wait_for_entry(api, admin, action="auth.login_failed", outcome="failure")
    unknown = [e for e in anonymous if e["actor_name"] == "nobody"]
    assert unknown and unknown[0]["actor_id"] is None and unknown[0]["target"] == {"type": "user", "id": None}

    for _ in range(5):
        await api.client.post("/auth/login", json={"username": "alice", "password": WRONG})
    throttled = await api.client.post("/auth/login", json={"username": "alice", "password": api.password})
    assert throttled.status_code == 429
    failures = await _wait_for_entry(api, admin, count=7, action="auth.login_failed", actor=alice["id"])
    assert failures[0]["reason"] == "throttled"  # newest first: the right password, refused


async def test_refresh_reuse_and_logout_all_are_recorded(api) -> None:
    alice, headers = await api.user("alice")
    tokens = await api.login("alice")
    assert (await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 200
    reused = await api.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401
    assert (await api.client.post("/auth/logout-all", headers=headers)).status_code == 204
    admin = await api.admin()

    (reuse,) = await _wait_for_entry(api, admin, action="auth.refresh_reuse")
    assert (reuse["actor_id"], reuse["outcome"], reuse["reason"]) == (alice["id"], "failure", "reused_refresh_token")
    assert reuse["details"]["family_revoked"] is True
    (logout,) = await _wait_for_entry(api, admin, action="auth.logout_all")
    assert logout["actor_id"] == alice["id"] and logout["target"] == {"type": "user", "id": alice["id"]}


async def test_admin_changes_and_api_keys_are_recorded(api) -> None:
    bob, bob_headers = await api.user("bob")
    admin = await api.admin()
    root = (await api.client.get("/users/me", headers=admin)).json()
    key = (await api.client.post("/auth/api-keys", json={"name": "ci"}, headers=bob_headers)).json()
    assert (await api.client.delete(f"/auth/api-keys/{key['id']}", headers=bob_headers)).status_code == 204
    assert (await api.client.patch(f"/users/{bob['id']}", json={"role": "admin"}, headers=admin)).status_code == 200
    assert (await api.client.patch(f"/users/{bob['id']}", json={"disabled": True}, headers=admin)).status_code == 200
    assert (await api.client.delete(f"/users/{bob['id']}", headers=admin)).status_code == 204

    created = await _wait_for_entry(api, admin, action="apikey.created")
    assert created[0]["actor_id"] == bob["id"]
    assert created[0]["target"] == {"type": "api_key", "id": key["id"]}
    assert created[0]["details"] == {"name": "ci", "prefix": key["prefix"]}
    revoked = await _wait_for_entry(api, admin, action="apikey.revoked")
    assert revoked[0]["target"] == {"type": "api_key", "id": key["id"]}
    for action, details in (("user.role_changed", {"role": "admin"}), ("user.disabled", {}), ("user.deleted", {})):
        (entry,) = await _wait_for_entry(api, admin, action=action)
        assert entry["actor_id"] == root["id"] and entry["actor_name"] == api.admin_username
        assert entry["target"] == {"type": "user", "id": bob["id"]}
        assert entry["details"] == details
    # Filtering by target gives the user's whole story, newest first.
    story = await _entries(api, admin, target_type="user", target_id=bob["id"])
    assert {e["action"] for e in story} >= {"user.deleted", "user.disabled", "user.role_changed", "auth.login"}
    assert [e["time"] for e in story] == sorted((e["time"] for e in story), reverse=True)


async def test_entries_from_other_services_arrive_through_the_bus(api, bus) -> None:
    """The gateway's file actions, as its recorder publishes them, end up in auth's log."""
    gateway = AuditRecorder(bus, "ingest")
    for action in ("file.uploaded", "file.downloaded", "file.exported", "file.deleted"):
        assert await gateway.record(
            AuditAction(action),
            actor_id="u1",
            actor_name="carol",
            target=AuditTarget(type="file", id="f1"),
            client_address="203.0.113.9",
        )
    admin = await api.admin()

    found = await _wait_for_entry(api, admin, count=4, target_type="file", target_id="f1")
    assert {e["action"] for e in found} == {"file.deleted", "file.exported", "file.downloaded", "file.uploaded"}
    assert {e["source"] for e in found} == {"ferry-ingest"}


async def test_a_redelivered_event_is_stored_once(mongo_db) -> None:
    log = AuditLog(mongo_db)
    await log.ensure_indexes()
    consumer = AuditConsumer(log)
    entry = AuditRecorded(time=datetime.now(UTC), actor_id="u1", action=AuditAction.FILE_DOWNLOADED)
    envelope = Envelope.wrap(entry, source="ferry-ingest")
    await consumer.handle(envelope)
    await consumer.handle(Envelope.from_bytes(envelope.to_bytes()))  # the same event, delivered again
    assert await mongo_db[AUDIT_LOG].count_documents({}) == 1
    indexes = await mongo_db[AUDIT_LOG].index_information()
    assert {"time_-1__id_-1", "actor_id_1_time_-1__id_-1", "action_1_time_-1__id_-1"} <= set(indexes)
    assert "target.type_1_target.id_1_time_-1__id_-1" in indexes


async def test_a_user_reads_only_their_own_organizations_log(api, mongo_db) -> None:
    user, headers = await api.user("mallory")
    await _seed(mongo_db, 4, datetime(2026, 1, 1, tzinfo=UTC))  # platform-wide entries, no organization
    for path in ("/audit", "/audit/export"):
        response = await api.client.get(path, headers=headers)
        assert response.status_code == 200, response.text
        assert "file-" not in response.text
    # Organization scoping itself is covered in test_org_audit.py.
    assert (await api.client.get("/audit", headers={**headers, "X-Ferry-Org": "someone-else"})).status_code == 404
    assert (await api.client.get("/audit")).status_code == 401
    assert user["id"]


async def _seed(mongo_db, count: int, start: datetime) -> None:
    log = AuditLog(mongo_db)
    for index in range(count):
        # Two entries share each millisecond, so paging must order by id within a time.
        entry = AuditRecorded(
            time=start + timedelta(milliseconds=index // 2),
            actor_id=f"user-{index % 3}",
            action=AuditAction.FILE_DOWNLOADED if index % 2 else AuditAction.FILE_UPLOADED,
            target=AuditTarget(type="file", id=f"file-{index % 5}"),
        )
        assert await log.append(f"event-{index:04d}", entry, source="ferry-ingest")


async def test_cursor_pagination_walks_every_entry_once(api, mongo_db) -> None:
    admin = await api.admin()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    await _seed(mongo_db, 23, start)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 5, "action": "file.uploaded"}
    params_all: dict[str, Any] = {"limit": 5, "to": (start + timedelta(days=1)).isoformat()}
    for query, expected in ((params_all, 23), (params, 12)):
        seen = []
        cursor = None
        pages = 0
        while True:
            response = await api.client.get(
                "/audit", params={**query, **({"cursor": cursor} if cursor else {})}, headers=admin
            )
            assert response.status_code == 200, response.text
            page = response.json()
            seen += [item["id"] for item in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == expected
        assert pages == -(-expected // 5)
    assert seen == sorted(seen, reverse=True)  # newest first: later time, then larger id
    bad = await api.client.get("/audit", params={"cursor": "not-a-cursor"}, headers=admin)
    assert bad.status_code == 400


async def test_filters_by_actor_target_and_time(api, mongo_db) -> None:
    admin = await api.admin()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    await _seed(mongo_db, 20, start)
    by_actor = await _entries(api, admin, actor="user-1")
    assert len(by_actor) == 7 and {e["actor_id"] for e in by_actor} == {"user-1"}
    by_target = await _entries(api, admin, target_type="file", target_id="file-2")
    assert len(by_target) == 4 and {e["target"]["id"] for e in by_target} == {"file-2"}
    window = {
        "from": (start + timedelta(milliseconds=2)).isoformat(),
        "to": (start + timedelta(milliseconds=5)).isoformat(),
    }
    in_window = await _entries(api, admin, **window)
    assert sorted(e["id"] for e in in_window) == [f"event-{i:04d}" for i in range(4, 10)]
    combined = await _entries(api, admin, actor="user-0", action="file.uploaded", **window)
    assert [e["id"] for e in combined] == ["event-0006"]
    assert (await api.client.get("/audit", params={"action": "file.edited"}, headers=admin)).status_code == 422


async def test_export_streams_ndjson(api, mongo_db) -> None:
    admin = await api.admin()
    await _seed(mongo_db, 12, datetime(2026, 1, 1, tzinfo=UTC))
    response = await api.client.get("/audit/export", params={"action": "file.downloaded"}, headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 6 and {line["action"] for line in lines} == {"file.downloaded"}
    assert [line["id"] for line in lines] == sorted((line["id"] for line in lines), reverse=True)


async def test_no_route_can_change_or_remove_an_entry(client) -> None:
    spec = (await client.get("/openapi.json")).json()
    audit_paths = {path: ops for path, ops in spec["paths"].items() if path.startswith("/audit")}
    assert set(audit_paths) == {"/audit", "/audit/export"}
    assert {method for ops in audit_paths.values() for method in ops} == {"get"}
    for method in ("put", "patch", "delete", "post"):
        assert (await client.request(method.upper(), "/audit")).status_code == 405


def test_no_code_updates_or_deletes_audit_entries() -> None:
    """Append-only by construction: the module that owns the collection only inserts and finds."""
    source = Path(__file__).parents[1] / "src" / "ferry_auth" / "audit_log.py"
    calls = {
        node.func.attr
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    writes = {
        name
        for name in calls
        if name.startswith(("update_", "delete_", "replace_one", "find_one_and_", "bulk_write", "drop"))
    }
    assert writes == set()
    assert "insert_one" in calls
    others = Path(__file__).parents[1] / "src" / "ferry_auth"
    for module in others.glob("*.py"):
        if module.name != "audit_log.py":
            assert "AUDIT_LOG" not in module.read_text() and '"audit_log"' not in module.read_text(), module
    assert AUDIT_QUEUE == "ferry.auth.audit"
