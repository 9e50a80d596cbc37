import asyncio

from ferry_core.tasks import run_every, stop_task


async def test_a_task_that_honours_cancellation_is_stopped() -> None:
    task = asyncio.create_task(asyncio.sleep(60))
    await stop_task(task, timeout=1)
    assert task.cancelled()


async def test_a_task_that_swallows_its_cancellation_is_given_up_on_after_the_timeout() -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                continue  # as the MongoDB driver sometimes does on Python 3.11

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stop_task(task, timeout=0.2)
    assert 0.2 <= loop.time() - started < 2 and not task.done()
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=1)


async def test_none_and_finished_tasks_are_nothing_to_stop() -> None:
    await stop_task(None)
    done = asyncio.create_task(asyncio.sleep(0))
    await done
    await stop_task(done)


async def test_a_periodic_task_outlives_a_failing_round() -> None:
    rounds: list[int] = []

    async def chore() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("the database is away")

    task = run_every(0.01, chore, name="chore")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2
    while len(rounds) < 3:
        assert loop.time() < deadline, rounds
        await asyncio.sleep(0.01)
    await stop_task(task)
    assert task.cancelled()
