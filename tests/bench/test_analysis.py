"""Claim: the analysis of a document streams (memory flat from 200 to 2,000 pages); its speed is reported.

Each pass runs in a fresh process, as a job does (one job per worker process, so the
libraries and models load once per job):

- ``split``: pysbd splitting the same pages into sentences, nothing else: the baseline;
- ``analyze``: ``ferry_parser.analysis.Analyzer`` over the pages (language, sentences,
  keywords, sentiment, reading figures), page results built and dropped as the job
  runtime would after storing them.

Pages are ~400 words of English prose cut from this repository's own documentation
(README.md, docs/*.md, markdown marks removed), each starting at a different word,
so no two pages are the same. ``python -m tests.bench.test_analysis analyze|split <pages>``
runs one pass and prints its figures as JSON.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from tests.bench.support import MIB, REPO, report, reset_peak, status_kib, table

PAGE_WORDS = 400
SMALL = 200
LARGE = int(os.environ.get("FERRY_BENCH_ANALYSIS_PAGES", "2000"))
MEMORY_MARGIN_MIB = 10  # allocator noise; the 2,000 pages' text (4.7 MiB) held as strings and words would pass it
SANITY_PAGES_PER_SECOND = 0.5  # not a speed claim: only catches a pathological slowdown


def corpus() -> list[str]:
    """The words of the repository's English documentation, without markdown's code, tables and marks."""
    text = "\n".join((REPO / name).read_text() for name in ("README.md", "docs/DECISIONS.md", "docs/CONVENTIONS.md"))
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    text = re.sub(r"^\s*\|.*$", " ", text, flags=re.MULTILINE)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[`#*_>|]+", " ", text)
    return text.split()


def pages(count: int) -> Iterator[str]:
    """``count`` pages, made one at a time: a pass that kept them would show it in its memory."""
    words = corpus()
    words += words[:PAGE_WORDS]
    step = 397  # prime: page starts walk through the corpus without repeating for a long while
    for n in range(count):
        start = (n * step) % (len(words) - PAGE_WORDS)
        yield " ".join(words[start : start + PAGE_WORDS])


def run(mode: str, count: int) -> dict[str, Any]:
    """One pass of ``mode`` over ``count`` pages in a fresh process; its figures."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.test_analysis", mode, str(count)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1_500,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.timeout(1800)
def test_analysis_throughput_and_memory() -> None:
    split = run("split", SMALL)
    small = run("analyze", SMALL)
    large = run("analyze", LARGE)
    for result, count in ((small, SMALL), (large, LARGE)):
        assert result["pages"] == count
        assert result["language"] == "en"
        assert result["sentiment_supported"] is True
        assert result["keywords"] > 0
    assert small["pages_per_second"] > SANITY_PAGES_PER_SECOND
    growth_small = small["peak_growth_kib"] / 1024
    growth_large = large["peak_growth_kib"] / 1024
    text_large = large["text_bytes"] / MIB
    split_ms = 1000 / split["pages_per_second"]

    def row(name: str, count: int, result: dict[str, Any]) -> list[object]:
        per_page_ms = 1000 / result["pages_per_second"]
        return [
            name,
            count,
            result["seconds"],
            result["pages_per_second"],
            per_page_ms / split_ms,
            result["load_seconds"],
            result["loaded_rss_kib"] / 1024,
            result["peak_growth_kib"] / 1024,
        ]

    report(
        table(
            f"Analysis: ~{PAGE_WORDS}-word English pages, one process per pass (as one job per worker)",
            ["pass", "pages", "seconds", "pages/s", "x split", "one-off load s", "RSS loaded MiB", "peak growth MiB"],
            [row("pysbd split only", SMALL, split), row("Analyzer", SMALL, small), row("Analyzer", LARGE, large)],
            notes=[
                "x split: time per page / pysbd's alone on the same pages; one-off load: importing the libraries and",
                "  analysing a one-page document first (lingua's models, YAKE's stopwords, pyphen's dictionary)",
                f"Analyzer {small['load_detail']}; split only {split['load_detail']}",
                f"text fed in the {LARGE}-page pass: {text_large:.1f} MiB; claim: its peak growth "
                f"{growth_large:.1f} MiB < the {SMALL}-page pass's {growth_small:.1f} + {MEMORY_MARGIN_MIB} MiB",
            ],
        )
    )
    assert growth_large < growth_small + MEMORY_MARGIN_MIB, (growth_small, growth_large)


def _analyze(texts: Iterable[str]) -> dict[str, Any]:
    from ferry_parser.analysis import Analyzer, TextUnit

    analyzer = Analyzer()
    for number, text in enumerate(texts, start=1):
        analyzer.feed(TextUnit(number, text))  # page results are stored and dropped by the job runtime
    _, document = analyzer.finish()
    return {
        "pages": document["pages"],
        "language": document["language"]["code"] if document["language"] else None,
        "sentiment_supported": document["sentiment"]["supported"],
        "keywords": len(document["keywords"]),
    }


def _split(texts: Iterable[str]) -> dict[str, Any]:
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    pages = sentences = 0
    for text in texts:
        pages += 1
        sentences += len(segmenter.segment(text))
    return {"pages": pages, "sentences": sentences}


def main(mode: str, count: int) -> None:
    pid = os.getpid()
    started_rss = status_kib(pid, "VmRSS")
    work = _analyze if mode == "analyze" else _split
    started = time.perf_counter()
    work(pages(1))  # imports, models and caches: what every job pays once
    load_seconds = time.perf_counter() - started
    loaded_rss = status_kib(pid, "VmRSS")
    exact = reset_peak(pid)
    started = time.perf_counter()
    fed = [0]

    def counted() -> Iterator[str]:
        for text in pages(count):
            fed[0] += len(text.encode())
            yield text

    result = work(counted())
    seconds = time.perf_counter() - started
    peak = status_kib(pid, "VmHWM")
    detail = f"RSS {started_rss / 1024:.0f} MiB at start, {loaded_rss / 1024:.0f} MiB loaded"
    print(
        json.dumps(
            result
            | {
                "seconds": seconds,
                "pages_per_second": count / seconds,
                "load_seconds": load_seconds,
                "load_detail": detail,
                "loaded_rss_kib": loaded_rss,
                "peak_growth_kib": max(0, peak - loaded_rss),
                "exact_peak": exact,
                "text_bytes": fed[0],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
