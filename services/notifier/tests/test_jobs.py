"""Analysis and conversion jobs reach a file's subscribers as ``job_update`` messages.

One shape for every job event; a running job's progress coalesces per job when a
connection falls behind, and nothing of a job is sent after its end.
"""

from __future__ import annotations

import json
from typing import Any

from ferry_core.events import (
    Envelope,
    ErrorInfo,
    FileAnalyzed,
    FileConverted,
    FileJobCancelled,
    FileJobFailed,
    FileJobProgress,
    FileJobRequested,
    JobKind,
)
from ferry_notifier.connections import Outbox
from ferry_notifier.hub import Hub
from ferry_notifier.messages import Close, JobUpdate, Outgoing, update_for

OWNER = "alice"
IDS = {"job_id": "j1", "file_id": "f1", "owner_id": OWNER}


def job(payload: Any, org_id: str | None = None) -> JobUpdate:
    update = update_for(Envelope.wrap(payload, source="ferry-test", org_id=org_id))
    assert isinstance(update, JobUpdate)
    return update


def data(update: Outgoing) -> dict[str, Any]:
    assert not isinstance(update, Close)
    message = json.loads(update.text)
    assert message["type"] == "job_update"
    result: dict[str, Any] = message["data"]
    return result


def running(progress: int, job_id: str = "j1") -> JobUpdate:
    ids = {**IDS, "job_id": job_id}
    return job(FileJobProgress(**ids, kind=JobKind.ANALYSIS, progress=progress, done=progress, total=100))


def test_every_job_event_has_the_job_update_shape() -> None:
    requested = FileJobRequested(
        **IDS, kind=JobKind.CONVERSION, filename="a.csv", format="csv", blob_key="f1", target="xlsx"
    )
    assert data(job(requested)) == {
        "job_id": "j1",
        "file_id": "f1",
        "kind": "conversion",
        "status": "queued",
        "progress": 0,
        "target": "xlsx",
    }
    assert data(running(40)) == {
        "job_id": "j1",
        "file_id": "f1",
        "kind": "analysis",
        "status": "running",
        "progress": 40,
        "done": 40,
        "total": 100,
        "unit": "pages",
    }
    analyzed = data(job(FileAnalyzed(**IDS, language="en", pages=3, words=120, sentences=9, sentiment="positive")))
    assert (analyzed["status"], analyzed["progress"], analyzed["kind"]) == ("done", 100, "analysis")
    assert analyzed["result"] == {
        "language": "en",
        "pages": 3,
        "words": 120,
        "sentences": 9,
        "sentiment": "positive",
        "duration_ms": 0,
    }
    converted = FileConverted(
        **IDS,
        target="xlsx",
        result_key="f1.conversions.j1.xlsx",
        filename="a.xlsx",
        content_type="application/octet-stream",
        size=10,
        sha256="0" * 64,
    )
    result = data(job(converted))["result"]
    assert result["filename"] == "a.xlsx" and "result_key" not in result  # blob keys stay inside
    failed = data(job(FileJobFailed(**IDS, kind=JobKind.CONVERSION, error=ErrorInfo(code="timeout", message="m"))))
    assert (failed["status"], failed["error"]) == ("failed", {"code": "timeout", "message": "m"})
    assert data(job(FileJobCancelled(**IDS, kind=JobKind.ANALYSIS)))["status"] == "cancelled"


async def test_progress_coalesces_per_job_and_nothing_follows_the_end() -> None:
    outbox = Outbox(OWNER, 2)
    outbox.follow_org(OWNER)
    for pct in (10, 20, 30, 40):
        outbox.offer(running(pct))
    outbox.offer(running(5, job_id="j2"))
    done = job(FileAnalyzed(**IDS, pages=1))
    outbox.offer(done)
    outbox.offer(running(90))  # late progress of an ended job
    outbox.offer(done)  # the end heard twice
    sent = [data(await outbox.next()) for _ in range(outbox.pending)]
    assert [(m["job_id"], m["status"], m["progress"]) for m in sent] == [
        ("j1", "running", 10),
        ("j1", "running", 20),
        ("j1", "running", 40),  # 30 was replaced unsent
        ("j2", "running", 5),
        ("j1", "done", 100),
    ]


async def test_the_hub_routes_jobs_to_the_files_organization_and_followers_only() -> None:
    hub = Hub()
    mine, follower, other_org = Outbox(OWNER, 8), Outbox(OWNER, 8), Outbox("bob", 8, orgs=["acme"])
    mine.follow_org(OWNER)
    hub.watch_org(mine, OWNER)
    follower.open("f1")  # /ws/files/f1: the job's messages need not wait for the file's state
    hub.watch_file(follower, "f1")
    other_org.follow_org("acme")
    hub.watch_org(other_org, "acme")
    await hub.handle(Envelope.wrap(FileJobCancelled(**IDS, kind=JobKind.ANALYSIS), source="ferry-test"))
    assert (mine.pending, follower.pending, other_org.pending) == (1, 1, 0)
    assert len(hub.recent) == 0  # a job is not the file's state: nothing is replayed on subscribe
