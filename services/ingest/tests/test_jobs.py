"""Analyses through the API: start (idempotent), follow the parser's events, read, cancel, fail, scope.

The gateway in-process over the real MongoDB-wire server and the memory bus; the
parser's events are published by hand.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ferry_core.events import Envelope, JobKind, OrgMemberUpdated
from ferry_core.jobs import ANALYSES, ANALYSIS_PAGES
from ferry_core.orgs import OrgRole
from ferry_testkit.tokens import TokenFactory
from ferry_testkit.waiting import eventually

from .jobs_support import (
    Gateway,
    analyzed,
    cancelled,
    failed,
    job_record,
    mark_parsed,
    parsed_file,
    progress,
    publish,
    requested,
    status_becomes,
    upload,
)

ANALYSIS = JobKind.ANALYSIS


def bearer(tokens: TokenFactory, user: str = "alice", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, **claims)}"}


async def store_result(gateway: Gateway, file_id: str, job_id: str, pages: int = 3) -> None:
    """What the parser stores before it announces ``file.analyzed.v1``."""
    db = gateway.infra.db
    document = {
        "language": {"code": "en", "name": "English", "confidence": 0.98},
        "sentences": {"count": 6, "sample": [{"page": 1, "text": "Ferry is great.", "sentiment": "positive"}]},
        "keywords": [{"text": "ferry", "score": 0.01}],
        "sentiment": {"supported": True, "polarity": 0.6, "subjectivity": 0.7, "label": "positive"},
        "reading": {
            "words": 40,
            "unique_words": 30,
            "sentences": 6,
            "average_sentence_length": 6.7,
            "readability": None,
        },
        "pages": pages,
    }
    await db[ANALYSES].insert_one(
        {"_id": job_id, "file_id": file_id, "owner_id": "alice", "document": document, "pages": pages}
    )
    await db[ANALYSIS_PAGES].insert_many(
        [
            {
                "job_id": job_id,
                "file_id": file_id,
                "number": n,
                "words": 10 * n,
                "sentences": n,
                "keywords": [],
                "sentiment": {},
            }
            for n in range(pages, 0, -1)
        ]
    )


async def test_an_analysis_starts_once_follows_the_parser_and_reads_back(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    alice = bearer(tokens)
    file_id = await upload(gateway, alice)
    early = await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)
    assert early.status_code == 409, early.text
    assert (await gateway.client.get(f"/files/{file_id}/analysis", headers=alice)).status_code == 404
    await mark_parsed(gateway, file_id)

    first = await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)
    assert first.status_code == 202, first.text
    job_id = first.json()["analysis_id"]
    assert first.json()["status"] == "queued" and first.json()["result"] is None
    again = await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)
    assert (again.status_code, again.json()["analysis_id"]) == (200, job_id)
    await eventually(lambda: len(requested(gateway, job_id)) == 1)
    event = requested(gateway, job_id)[0]
    assert event.data["kind"] == "analysis" and event.data["file_id"] == file_id and event.data["format"] == "csv"
    assert event.org_id == "alice" and event.subject == file_id

    await publish(gateway, progress(file_id, job_id, 40, ANALYSIS))
    await status_becomes(gateway, job_id, "running")
    running = (await gateway.client.get(f"/files/{file_id}/analysis", headers=alice)).json()
    assert (running["status"], running["progress"], running["done"], running["total"]) == ("running", 40, 40, 100)
    await publish(gateway, progress(file_id, job_id, 20, ANALYSIS))  # older than what is recorded: ignored

    await store_result(gateway, file_id, job_id)
    await publish(gateway, analyzed(file_id, job_id))
    await status_becomes(gateway, job_id, "done")
    await publish(gateway, progress(file_id, job_id, 90, ANALYSIS))  # a late progress after done: ignored
    await asyncio.sleep(0.2)
    done = (await gateway.client.get(f"/files/{file_id}/analysis?page_offset=1&page_limit=1", headers=alice)).json()
    assert done["status"] == "done" and done["progress"] == 100 and done["finished_at"]
    assert done["result"]["language"]["code"] == "en"
    assert done["result"]["sentiment"]["label"] == "positive"
    assert done["result"]["keywords"] == [{"text": "ferry", "score": 0.01}]
    assert done["result"]["pages"] == 3
    assert done["pages"]["total"] == 3 and [p["number"] for p in done["pages"]["items"]] == [2]
    assert "job_id" not in done["pages"]["items"][0]
    record = await job_record(gateway, job_id)
    assert record and record["result"]["language"] == "en"
    # Done is live: asking again returns it.
    assert (await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)).status_code == 200


async def test_removing_a_finished_analysis_tells_the_parser_and_the_next_one_starts_afresh(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    alice = bearer(tokens)
    file_id = await parsed_file(gateway, alice)
    job_id = (await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)).json()["analysis_id"]
    await store_result(gateway, file_id, job_id)
    await publish(gateway, analyzed(file_id, job_id))
    await status_becomes(gateway, job_id, "done")

    assert (await gateway.client.delete(f"/files/{file_id}/analysis", headers=alice)).status_code == 204
    await eventually(lambda: len(cancelled(gateway, job_id)) == 1)

    async def gone() -> bool:
        return await job_record(gateway, job_id) is None

    await eventually(gone)
    assert (await gateway.client.get(f"/files/{file_id}/analysis", headers=alice)).status_code == 404
    fresh = await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)
    assert fresh.status_code == 202 and fresh.json()["analysis_id"] != job_id


async def test_cancelling_a_running_analysis_frees_it_and_a_late_result_is_undone(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    alice = bearer(tokens)
    file_id = await parsed_file(gateway, alice)
    job_id = (await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)).json()["analysis_id"]
    await publish(gateway, progress(file_id, job_id, 10, ANALYSIS))
    await status_becomes(gateway, job_id, "running")

    assert (await gateway.client.delete(f"/files/{file_id}/analysis", headers=alice)).status_code == 204
    await eventually(lambda: len(cancelled(gateway, job_id)) == 1)
    view = (await gateway.client.get(f"/files/{file_id}/analysis", headers=alice)).json()
    assert view["status"] == "cancelled" and view["finished_at"]
    assert (await gateway.client.delete(f"/files/{file_id}/analysis", headers=alice)).status_code == 404

    # The parser finished before it heard: the result is refused and the parser told again.
    await publish(gateway, analyzed(file_id, job_id))
    await eventually(lambda: len(cancelled(gateway, job_id)) == 2)
    record = await job_record(gateway, job_id)
    assert record and record["status"] == "cancelled"

    fresh = await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)
    assert fresh.status_code == 202 and fresh.json()["analysis_id"] != job_id


async def test_a_failed_analysis_frees_its_slot(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    file_id = await parsed_file(gateway, alice)
    job_id = (await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)).json()["analysis_id"]
    await publish(gateway, failed(file_id, job_id, "analysis_error", ANALYSIS))
    await status_becomes(gateway, job_id, "failed")
    view = (await gateway.client.get(f"/files/{file_id}/analysis", headers=alice)).json()
    assert view["error"] == {"code": "analysis_error", "message": "analysis_error!"}
    await publish(gateway, analyzed(file_id, job_id))  # a failed job stays failed
    await asyncio.sleep(0.2)
    assert (await job_record(gateway, job_id) or {})["status"] == "failed"
    retry = await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)
    assert retry.status_code == 202 and retry.json()["analysis_id"] != job_id


async def test_concurrent_requests_make_one_analysis(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    file_id = await parsed_file(gateway, alice)
    answers = await asyncio.gather(
        *(gateway.client.post(f"/files/{file_id}/analysis", headers=alice) for _ in range(6))
    )
    assert sorted(a.status_code for a in answers) == [200] * 5 + [202]
    assert len({a.json()["analysis_id"] for a in answers}) == 1


async def test_analyze_on_upload_starts_once_the_file_is_parsed(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    by_field = await gateway.client.post(
        "/files", headers=alice, files={"file": ("a.csv", b"a\n1\n")}, data={"analyze": "true"}
    )
    by_query = await upload(gateway, alice, analyze="true")
    plain = await upload(gateway, alice)
    assert by_field.json()["analyze"] is True
    ids = [by_field.json()["file_id"], by_query, plain]
    assert requested(gateway) == []
    for file_id in ids:
        await mark_parsed(gateway, file_id)
    await eventually(lambda: {e.data["file_id"] for e in requested(gateway)} == set(ids[:2]))
    # A redelivered file.parsed.v1 starts nothing more.
    await mark_parsed(gateway, ids[0])
    await asyncio.sleep(0.3)
    assert len(requested(gateway)) == 2
    view = (await gateway.client.get(f"/files/{ids[1]}/analysis", headers=alice)).json()
    assert view["status"] == "queued"


async def test_scope_another_org_is_404_and_a_viewer_reads_but_cannot_start(
    gateway: Gateway, tokens: TokenFactory
) -> None:
    owner = {**bearer(tokens, "olga", orgs={"acme": "owner"}), "X-Ferry-Org": "acme"}
    member = bearer(tokens, "mia", orgs={"acme": "member"})
    viewer = bearer(tokens, "vic", orgs={"acme": "viewer"})
    outsider = bearer(tokens, "otto")
    await gateway.infra.bus.publish(
        Envelope.wrap(
            OrgMemberUpdated(org_id="acme", user_id="vic", role=OrgRole.VIEWER, revision=1), source="ferry-auth"
        )
    )
    file_id = await parsed_file(gateway, owner, owner="olga")
    url = f"/files/{file_id}/analysis"
    assert (await gateway.client.post(url, headers=outsider)).status_code == 404
    refused = await gateway.client.post(url, headers=viewer)
    assert refused.status_code == 403 and refused.json() == {"detail": "viewers cannot start analyses"}
    assert (await gateway.client.post(url, headers=member)).status_code == 202
    assert (await gateway.client.get(url, headers=viewer)).status_code == 200
    assert (await gateway.client.get(url, headers=outsider)).status_code == 404
    assert (await gateway.client.delete(url, headers=viewer)).status_code == 403
    assert (await gateway.client.delete(url, headers=outsider)).status_code == 404
    assert (await gateway.client.delete(url, headers=member)).status_code == 204


async def test_deleting_the_file_deletes_its_jobs(gateway: Gateway, tokens: TokenFactory) -> None:
    alice = bearer(tokens)
    file_id = await parsed_file(gateway, alice)
    job_id = (await gateway.client.post(f"/files/{file_id}/analysis", headers=alice)).json()["analysis_id"]
    conversion = await gateway.client.post(f"/files/{file_id}/conversions", headers=alice, json={"to": "json"})
    assert conversion.status_code == 202
    assert (await gateway.client.delete(f"/files/{file_id}", headers=alice)).status_code == 204
    assert await job_record(gateway, job_id) is None
    assert await gateway.infra.db["file_jobs"].count_documents({"file_id": file_id}) == 0
    assert (await gateway.client.get(f"/files/{file_id}/analysis", headers=alice)).status_code == 404
