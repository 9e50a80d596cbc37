"""``Idempotency-Key`` on POST /files: a retried upload returns the first file instead of storing it twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from typing import Any as Gateway  # the conftest fixture object (conftest is not importable)

from ferry_core.events import utcnow
from ferry_ingest.idempotency import COLLECTION, IdempotencyKeys
from ferry_testkit.tokens import TokenFactory

CSV = b"a,b\n1,x\n2,y\n"


def headers(tokens: TokenFactory, user: str, key: str | None) -> dict[str, str]:
    sent = {"Authorization": f"Bearer {tokens.issue(user)}"}
    if key is not None:
        sent["Idempotency-Key"] = key
    return sent


async def post(gw: Gateway, sent: dict[str, str], data: bytes = CSV, name: str = "a.csv") -> Any:
    return await gw.client.post("/files", headers=sent, files={"file": (name, data, "text/csv")})


async def files_of(gw: Gateway, user: str) -> int:
    return int(await gw.infra.db["files"].count_documents({"owner_id": user}))


async def test_a_retry_returns_the_first_file_and_stores_nothing_twice(gateway: Gateway, tokens: TokenFactory) -> None:
    first = await post(gateway, headers(tokens, "alice", "upload-42"))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    again = await post(gateway, headers(tokens, "alice", "upload-42"))
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["file_id"] == first.json()["file_id"]
    assert await files_of(gateway, "alice") == 1
    uploaded = [e for e in gateway.published if e.type == "file.uploaded.v1"]
    assert len({e.data["file_id"] for e in uploaded}) <= 1  # one file went down the pipeline

    # Another key, no key, or another user's same key: each a new file.
    assert (await post(gateway, headers(tokens, "alice", "upload-43"))).json()["file_id"] != first.json()["file_id"]
    assert (await post(gateway, headers(tokens, "alice", None))).status_code == 201
    other = await post(gateway, headers(tokens, "bob", "upload-42"))
    assert other.status_code == 201 and other.json()["owner_id"] == "bob"
    assert await files_of(gateway, "alice") == 3


async def test_a_failed_upload_frees_its_key_and_a_deleted_file_too(gateway: Gateway, tokens: TokenFactory) -> None:
    sent = headers(tokens, "alice", "k1")
    refused = await post(gateway, sent, data=b"")  # an empty file: 422
    assert refused.status_code == 422
    retried = await post(gateway, sent)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers

    deleted = await gateway.client.delete(f"/files/{retried.json()['file_id']}", headers=sent)
    assert deleted.status_code == 204
    fresh = await post(gateway, sent)
    assert fresh.status_code == 201 and fresh.json()["file_id"] != retried.json()["file_id"]


async def test_a_key_reused_for_another_request_or_still_running_is_refused(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    sent = headers(tokens, "alice", "k2")
    assert (await post(gateway, sent)).status_code == 201
    different = await post(gateway, sent, data=CSV + b"3,z\n")
    assert different.status_code == 422 and "Idempotency-Key" in different.json()["detail"]

    keys: IdempotencyKeys = gateway.app.state.idempotency
    claim = await keys.claim("alice", "alice", "k3", None)  # as if another request were uploading right now
    running = await post(gateway, headers(tokens, "alice", "k3"))
    assert running.status_code == 409
    await keys.release(claim)
    assert (await post(gateway, headers(tokens, "alice", "k3"))).status_code == 201

    for bad in (b"", b"with space", b"x" * 256, "café".encode()):
        sent = {**headers(tokens, "alice", None), "Idempotency-Key": bad}
        response = await gateway.client.post("/files", headers=sent, files={"file": ("a.csv", CSV)})
        assert response.status_code == 400, (bad, response.text)


async def test_a_claim_left_by_a_crashed_gateway_goes_stale(gateway: Gateway, tokens: TokenFactory) -> None:
    keys: IdempotencyKeys = gateway.app.state.idempotency
    await keys.claim("alice", "alice", "k4", None)
    collection = gateway.infra.db[COLLECTION]
    long_ago = utcnow() - timedelta(hours=1)
    await collection.update_one({"_id": "alice\x00alice\x00k4"}, {"$set": {"started_at": long_ago}})
    assert (await post(gateway, headers(tokens, "alice", "k4"))).status_code == 201


async def test_two_requests_with_one_key_at_once_store_one_file(gateway: Gateway, tokens: TokenFactory) -> None:
    sent = headers(tokens, "alice", "k5")
    answers = await asyncio.gather(*(post(gateway, sent) for _ in range(4)))
    made = {a.json()["file_id"] for a in answers if a.status_code == 201}
    assert len(made) == 1 and all(a.status_code in (201, 409) for a in answers)
    assert await files_of(gateway, "alice") == 1
