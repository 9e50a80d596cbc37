from ferry_core.events import FileProgress, FileStatus, FileUploaded, Stage
from ferry_parser.progress import READ_SHARE, ProgressReporter


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

    # Storing fills the bar from READ_SHARE (10) to 99: half the rows stored is 10 + 89 // 2.
    assert [(e.stage, e.progress) for e in sent] == [(Stage.PARSE, 0), (Stage.STORE, 54), (Stage.STORE, 99)]
    assert all(e.status is FileStatus.PARSING for e in sent)
    assert sent[0].bytes_total == 1000
    assert (sent[1].rows_done, sent[1].bytes_done, sent[1].bytes_total) == (500, 500, 1000)


async def test_pages_and_unknown_totals() -> None:
    sent: list[FileProgress] = []

    async def publish(event: FileProgress) -> None:
        sent.append(event)

    await ProgressReporter(publish, upload(), interval=0).storing(3, 4, pages=True)
    await ProgressReporter(publish, upload(), interval=0).storing(7, None)
    three_quarters = READ_SHARE + 3 * (99 - READ_SHARE) // 4
    assert (sent[0].pages_done, sent[0].pages_total, sent[0].rows_done, sent[0].progress) == (3, 4, 0, three_quarters)
    assert (sent[1].rows_done, sent[1].progress) == (7, READ_SHARE)


async def test_reading_fills_the_parse_share_from_bytes_read() -> None:
    sent: list[FileProgress] = []

    async def publish(event: FileProgress) -> None:
        sent.append(event)

    reporter = ProgressReporter(publish, upload(), interval=0)  # 1000 bytes
    await reporter.parsing()
    await reporter.reading(500)  # half of the one pass
    await reporter.reading(None)  # no measure: nothing to say
    await reporter.reading(5000)  # read more than expected: the share is full, no more
    await reporter.storing(0, 1000)
    await reporter.reading(9000)  # late: content is being stored already
    assert [(e.stage, e.progress, e.bytes_done) for e in sent] == [
        (Stage.PARSE, 0, 0),
        (Stage.PARSE, 5, 500),
        (Stage.PARSE, READ_SHARE, 1000),
        (Stage.STORE, READ_SHARE, 0),
    ]


async def test_progress_never_goes_back() -> None:
    sent: list[FileProgress] = []

    async def publish(event: FileProgress) -> None:
        sent.append(event)

    reporter = ProgressReporter(publish, upload(), interval=0)
    await reporter.storing(90, 100)
    await reporter.storing(95, 200)  # a second sheet announced more rows
    assert [e.progress for e in sent] == [READ_SHARE + 90 * (99 - READ_SHARE) // 100] * 2
    assert sent[1].rows_done == 95


async def test_heartbeat_repeats_the_state_when_nothing_was_sent_for_a_while() -> None:
    sent: list[FileProgress] = []

    async def publish(event: FileProgress) -> None:
        sent.append(event)

    clock = Clock()
    reporter = ProgressReporter(publish, upload(), interval=0.25, heartbeat=1.5, clock=clock)
    await reporter.heartbeat()  # nothing announced yet: the first event is "parsing"
    assert sent == []
    await reporter.parsing()
    await reporter.storing(100, 1000)  # dropped: too soon after the last event
    clock.now += 1.0
    await reporter.heartbeat()
    assert len(sent) == 1
    clock.now += 0.5
    await reporter.heartbeat()  # 1.5 s of silence: the latest state, including the dropped update
    assert [(e.stage, e.rows_done) for e in sent] == [(Stage.PARSE, 0), (Stage.STORE, 100)]
    for _ in range(20):  # a long parse, ticking every 0.1 s: one event every 0.25 s at most
        clock.now += 0.1
        await reporter.storing(200, 1000)
        await reporter.heartbeat()
    gaps = len(sent) - 2
    assert 6 <= gaps <= 8
