from ferry_parser.analysis.unique import UniqueCounter


def test_exact_up_to_the_cap() -> None:
    counter = UniqueCounter(cap=1_000)
    for n in range(3_000):
        counter.add(f"w{n % 1_000}")
    assert counter.exact
    assert counter.count() == 1_000


def test_estimated_past_the_cap_within_a_few_percent() -> None:
    counter = UniqueCounter(cap=1_000)
    for n in range(200_000):
        counter.add(f"w{n % 100_000}")  # every word twice: repeats must not count
    assert not counter.exact
    assert counter._seen is None  # the set is given up: memory stays at the registers
    assert abs(counter.count() - 100_000) < 3_000


def test_small_sets_after_the_spill_are_still_close() -> None:
    counter = UniqueCounter(cap=10)
    for n in range(500):
        counter.add(str(n))
    assert abs(counter.count() - 500) < 25
