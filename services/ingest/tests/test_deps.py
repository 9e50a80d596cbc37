"""Who is calling: a bearer access token or an ``X-API-Key``, and every files endpoint with a key."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

from ferry_core.events import ApiKeyCreated, ApiKeyRevoked, ColumnInfo, Envelope, FileParsed, Summary
from ferry_core.readmodels import CHUNKS
from ferry_testkit.tokens import TokenFactory

CSV = b"a,b\n1,x\n2,y\n"


async def eventually_status(gw: Gateway, path: str, headers: dict[str, str], status: int) -> None:
    deadline = time.monotonic() + 5
    while (await gw.client.get(path, headers=headers)).status_code != status:
        assert time.monotonic() < deadline, f"{path} never answered {status}"
        await asyncio.sleep(0.02)


async def grant_key(gw: Gateway, key_id: str, owner_id: str, role: str = "user") -> dict[str, str]:
    """Announce a key as auth does, wait until the gateway accepts it, and return headers that use it."""
    key = f"fry_{hashlib.sha256(key_id.encode()).hexdigest()[:43]}"
    payload = ApiKeyCreated(
        key_id=key_id,
        owner_id=owner_id,
        role=role,
        key_hash=hashlib.sha256(key.encode()).hexdigest(),
        name=key_id,
        prefix=key[:12],
    )
    await gw.infra.bus.publish(Envelope.wrap(payload, source="ferry-auth", subject=key_id))
    headers = {"X-API-Key": key}
    await eventually_status(gw, "/files", headers, 200)
    return headers


async def upload(gw: Gateway, headers: dict[str, str], name: str = "a.csv") -> str:
    response = await gw.client.post("/files", headers=headers, files={"file": (name, CSV, "text/csv")})
    assert response.status_code == 201, response.text
    return str(response.json()["file_id"])


async def test_every_files_endpoint_works_with_a_key_scoped_to_its_owner(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    key = await grant_key(gateway, "k1", "alice")
    file_id = await upload(gateway, key)
    record = (await gateway.client.get(f"/files/{file_id}", headers=key)).json()
    assert record["file_id"] == file_id and record["filename"] == "a.csv"
    # The same file through a token of the same user: a key acts as its owner.
    as_alice = {"Authorization": f"Bearer {tokens.issue('alice')}"}
    assert (await gateway.client.get(f"/files/{file_id}", headers=as_alice)).status_code == 200
    listing = (await gateway.client.get("/files", headers=key)).json()
    assert [item["file_id"] for item in listing["items"]] == [file_id]
    assert (await gateway.client.get("/files/search?q=a", headers=key)).json()["total"] == 1
    assert (await gateway.client.get("/files/stats", headers=key)).json()["total_files"] == 1
    assert (await gateway.client.get(f"/files/{file_id}/progress", headers=key)).json()["file_id"] == file_id
    assert (await gateway.client.get(f"/files/{file_id}/download", headers=key)).content == CSV

    summary = Summary(kind="table", rows=2, columns=[ColumnInfo(name="a", type="integer")])
    await gateway.infra.db[CHUNKS].insert_one(
        {"file_id": file_id, "part": "", "seq": 0, "start": 0, "count": 2, "rows": [[1], [2]]}
    )
    parsed = FileParsed(file_id=file_id, owner_id="alice", summary=summary, duration_ms=1)
    await gateway.infra.bus.publish(Envelope.wrap(parsed, source="test"))
    await eventually_status(gateway, f"/files/{file_id}/content", key, 200)
    assert (await gateway.client.get(f"/files/{file_id}/content", headers=key)).json()["rows"] == [[1], [2]]
    assert (await gateway.client.get(f"/files/{file_id}/export?format=csv", headers=key)).text.split() == [
        "a",
        "1",
        "2",
    ]
    assert (await gateway.client.delete(f"/files/{file_id}", headers=key)).status_code == 204
    assert (await gateway.client.get(f"/files/{file_id}", headers=key)).status_code == 404


async def test_another_users_file_is_not_found_with_a_key(gateway: Gateway, tokens: TokenFactory) -> None:
    bobs_file = await upload(gateway, {"Authorization": f"Bearer {tokens.issue('bob')}"})
    key = await grant_key(gateway, "k1", "alice")
    for path in ("", "/progress", "/content", "/download", "/export"):
        assert (await gateway.client.get(f"/files/{bobs_file}{path}", headers=key)).status_code == 404, path
    assert (await gateway.client.delete(f"/files/{bobs_file}", headers=key)).status_code == 404
    assert (await gateway.client.get("/files", headers=key)).json()["total"] == 0


async def test_an_admins_key_sees_every_file(gateway: Gateway, tokens: TokenFactory) -> None:
    bobs_file = await upload(gateway, {"Authorization": f"Bearer {tokens.issue('bob')}"})
    key = await grant_key(gateway, "root-key", "root", role="admin")
    assert (await gateway.client.get(f"/files/{bobs_file}", headers=key)).status_code == 200


async def test_a_revoked_or_unknown_key_is_refused(gateway: Gateway) -> None:
    key = await grant_key(gateway, "k1", "alice")
    await upload(gateway, key)
    revoked = ApiKeyRevoked(key_id="k1", owner_id="alice")
    await gateway.infra.bus.publish(Envelope.wrap(revoked, source="ferry-auth", subject="k1"))
    await eventually_status(gateway, "/files", key, 401)
    response = await gateway.client.get("/files", headers=key)
    assert response.json() == {"detail": "invalid or revoked API key"}
    assert response.headers["www-authenticate"] == 'APIKey header="X-API-Key"'
    for garbage in ("garbage", "fry_" + "A" * 43, "x" * 5000):
        refused = await gateway.client.get("/files", headers={"X-API-Key": garbage})
        assert refused.status_code == 401 and refused.json()["detail"], garbage
    upload_refused = await gateway.client.post("/files", headers=key, files={"file": ("a.csv", CSV, "text/csv")})
    assert upload_refused.status_code == 401


async def test_a_bearer_token_wins_over_a_key(gateway: Gateway, tokens: TokenFactory) -> None:
    key = await grant_key(gateway, "k1", "alice")
    alices_file = await upload(gateway, key)
    as_bob = {**key, "Authorization": f"Bearer {tokens.issue('bob')}"}
    assert (await gateway.client.get(f"/files/{alices_file}", headers=as_bob)).status_code == 404
    bad_token = {**key, "Authorization": "Bearer junk"}
    assert (await gateway.client.get("/files", headers=bad_token)).status_code == 401
    missing = await gateway.client.get("/files")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"


async def test_the_key_header_is_documented(gateway: Gateway) -> None:
    spec = (await gateway.client.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["APIKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An API key made with `POST /auth/api-keys`; it acts as its owner.",
    }
    assert {"APIKey": []} in spec["paths"]["/files"]["get"]["security"]
