"""One read of a CSV in a fresh process, reporting its peak RSS growth as JSON on stdout.

``python -m tests.bench.memprobe polars|reader <csv> <workdir>`` — run by
``test_parse_throughput.py``, so that each pass starts from the same clean
process and no allocator keeps memory from an earlier pass.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import polars as pl

from ferry_parser.formats import ReadOptions, reader_for
from ferry_parser.settings import ParserSettings
from tests.bench.support import reset_peak, status_kib


def reader_options(workdir: Path, settings: ParserSettings) -> ReadOptions:
    """The options the pipeline passes to a reader (see ``FileParser._read_and_store``)."""
    return ReadOptions(
        format="csv",
        workdir=workdir,
        batch_rows=max(settings.chunk_rows, 10_000),
        max_text_bytes=settings.max_chunk_bytes,
    )


def read_with_reader(path: Path, options: ReadOptions) -> int:
    """Every batch of Ferry's CSV reader, without storing anything; returns the row count."""
    return sum(item.height for item in reader_for("csv")(path, options) if isinstance(item, pl.DataFrame))


def main(mode: str, path: Path, workdir: Path) -> None:
    options = reader_options(workdir, ParserSettings())
    pid = os.getpid()
    exact = reset_peak(pid)
    baseline = status_kib(pid, "VmRSS")
    started = time.perf_counter()
    rows = pl.read_csv(path).height if mode == "polars" else read_with_reader(path, options)
    seconds = time.perf_counter() - started
    peak = status_kib(pid, "VmHWM")
    print(json.dumps({"rows": rows, "seconds": seconds, "baseline_kib": baseline, "peak_kib": peak, "exact": exact}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
