from ferry_core.events import FileProgress, FileStatus, FileUploaded, Stage
from ferry_parser.progress import ProgressReporter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def upload() -> FileUploaded:
    return FileUploaded(
        file_id="f1",
        owner_id="u1",
        filename="a.csv",
        content_type="text/csv",
        size=1000,
        sha256="0" * 64,
        format="csv",
        blob_key="f1",
    )


async def test_progress_is_throttled_and_stays_below_100() -> None:
    sent: list[FileProgress] = []

    async def publish(event: FileProgress) -> None:
        sent.append(event)

    clock = Clock()
    reporter = ProgressReporter(publish, upload(), interval=0.25, clock=clock)
    await reporter.parsing()
    for done in range(0, 1001, 100):  # eleven updates within one instant
        await reporter.storing(done, 1000)
    clock.now += 0.3
    await reporter.storing(500, 1000)
    clock.now += 0.3
    await reporter.storing(1000, 1000)

    assert [(e.stage, e.progress) for e in sent] == [(Stage.PARSE, 0), (Stage.STORE, 50), (Stage.STORE, 99)]
    assert all(e.status is FileStatus.PARSING for e in sent)
    assert sent[0].bytes_total == 1000
    assert (sent[1].rows_done, sent[1].bytes_done, sent[1].bytes_total) == (500, 500, 1000)


async def test_pages_and_unknown_totals() -> None:
    sent: list[FileProgress] = []

    async def publish(event: FileProgress) -> None:
        sent.append(event)

    reporter = ProgressReporter(publish, upload(), interval=0)
    await reporter.storing(3, 4, pages=True)
    await reporter.storing(7, None)
    assert (sent[0].pages_done, sent[0].pages_total, sent[0].rows_done, sent[0].progress) == (3, 4, 0, 75)
    assert (sent[1].rows_done, sent[1].progress) == (7, 0)
