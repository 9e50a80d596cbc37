"""Memory is bounded by one page and fixed-size tallies: ten times the pages peak where a tenth do.

Pages are short here, to keep the test quick (the analysis costs ~15 ms a page even
so), so this catches a leak per page or per sentence rather than one of the text
itself; the benchmark (tests/bench/test_analysis.py) does the same with 200 and
2,000 pages of ~400 words, measuring the process's resident memory.
"""

import random
import tracemalloc
from typing import Any

from ferry_parser.analysis import Analyzer, TextUnit

ADJECTIVES = ["quiet", "busy", "old", "new", "bright", "dark", "small", "large", "happy", "sad"]
NOUNS = ["harbour", "market", "garden", "station", "library", "bridge", "tower", "river", "village", "school"]
VERBS = ["opened", "closed", "painted", "visited", "rebuilt", "sold", "guarded", "cleaned"]
SYLLABLES = ["ka", "lo", "mi", "ren", "sta", "vo", "tri", "pel", "du", "gan", "sor", "zi", "bem"]


def name(rng: random.Random) -> str:
    """A made-up name: most pages bring distinct words the document has not seen."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()


def page(rng: random.Random) -> str:
    return (
        f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} of {name(rng)} was {rng.choice(VERBS)} by {name(rng)}. "
        f"Near the {rng.choice(NOUNS)}, {name(rng)} and {name(rng)} found a {rng.choice(ADJECTIVES)} "
        f"{rng.choice(NOUNS)} that nobody had {rng.choice(VERBS)} before."
    )


def peak_of(pages: int) -> tuple[int, dict[str, Any]]:
    """tracemalloc's peak (bytes) over analysing ``pages`` generated pages, and the document's result."""
    rng = random.Random(1)
    warm_up = Analyzer()  # models, stopwords, dictionaries and regex caches load once per process
    for number in range(1, 3):
        warm_up.feed(TextUnit(number, page(rng)))
    warm_up.finish()
    analyzer = Analyzer()
    tracemalloc.start()
    try:
        for number in range(1, pages + 1):
            analyzer.feed(TextUnit(number, page(rng)))
        _, document = analyzer.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, document


def test_peak_memory_does_not_grow_with_pages() -> None:
    small, few = peak_of(40)
    large, many = peak_of(400)
    assert many["language"]["code"] == "en"
    assert many["pages"] == 400
    assert many["sentences"]["count"] == 800
    assert len(many["sentences"]["sample"]) == 20
    assert many["reading"]["unique_words"] > 5 * few["reading"]["unique_words"]  # distinct words keep coming
    # What grows is fixed-size state filling up, each bounded whatever the length: the distinct
    # words (exact up to 50,000, then 16 KiB of registers), the keyword tally (4,000 entries),
    # pyphen's word cache (20,000), YAKE's similarity caches (emptied every 50 texts) and re's
    # compiled patterns (512). Measured: 1.5 MB for 40 pages, 3.7 MB for 400.
    assert large < small + 4 * 1024 * 1024, (small, large)
