"""``file.job.progress.v1`` of one job: the first always, then throttled; never back, never 100."""

from __future__ import annotations

from ferry_core.events import FileJobProgress, FileJobRequested, JobKind
from ferry_parser.jobs.progress import JobProgress

JOB = FileJobRequested(
    job_id="job-1",
    kind=JobKind.ANALYSIS,
    file_id="file-1",
    owner_id="owner-1",
    filename="a.pdf",
    format="pdf",
    blob_key="file-1",
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_throttled_and_never_finished() -> None:
    sent: list[FileJobProgress] = []

    async def publish(event: FileJobProgress) -> None:
        sent.append(event)

    clock = Clock()
    progress = JobProgress(publish, JOB, interval=0.5, clock=clock)
    await progress.start(10, "pages")
    assert [(e.progress, e.done, e.total, e.unit, e.kind) for e in sent] == [(0, 0, 10, "pages", JobKind.ANALYSIS)]
    await progress.update(3)  # within the interval: folded into the next
    assert len(sent) == 1
    clock.now = 0.6
    await progress.update(5)
    assert (sent[-1].progress, sent[-1].done) == (50, 5)
    clock.now = 1.2
    await progress.update(4)  # a late report never moves the bar back
    assert (sent[-1].progress, sent[-1].done) == (50, 5)
    clock.now = 1.8
    await progress.update(10)
    assert (sent[-1].progress, sent[-1].done) == (99, 10)  # 100 comes with the result


async def test_unknown_total_stays_at_zero() -> None:
    sent: list[FileJobProgress] = []

    async def publish(event: FileJobProgress) -> None:
        sent.append(event)

    progress = JobProgress(publish, JOB, interval=0)
    await progress.start(None, "pages")
    await progress.update(7)
    assert [(e.progress, e.done, e.total) for e in sent] == [(0, 0, None), (0, 7, None)]
