"""A 200,000-row table through xlsx and parquet: memory grows by a batch, not by the table.

Each write runs in a fresh interpreter, which reports how far its resident memory
rose above where it stood before the write (a warm-up write first, so imports and
one-time allocations are not counted), and how much the same rows take once held
all at once — the cost a writer that gathered the table would pay.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROWS = 200_000

_PROBE = """
import json, resource, sys
from pathlib import Path
from ferry_core.events import ColumnInfo
from ferry_parser.conversion import write_table

target, rows, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
columns = [ColumnInfo(name="id", type="integer"), ColumnInfo(name="day", type="date"),
           ColumnInfo(name="label", type="string")]

def batches(n, size=5_000):
    for start in range(0, n, size):
        yield [[i, "2024-01-02", f"label {i:>12} of the table, in full"] for i in range(start, min(n, start + size))]

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def resident_mb():
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024

write_table(columns, batches(5_000), target, out)
before = peak_mb()
write_table(columns, batches(rows), target, out)
after = peak_mb()
start = resident_mb()
table = [row for batch in batches(rows) for row in batch]
print(json.dumps({"write_mb": after - before, "table_mb": resident_mb() - start, "rows": len(table)}))
"""


@pytest.mark.parametrize("target", ["parquet", "xlsx"])
def test_a_large_table_is_written_in_bounded_memory(tmp_path: Path, target: str) -> None:
    out = tmp_path / f"big.{target}"
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE, target, str(ROWS), str(out)], capture_output=True, text=True, timeout=280
    )
    assert probe.returncode == 0, probe.stderr
    figures = json.loads(probe.stdout.splitlines()[-1])

    assert figures["rows"] == ROWS
    assert figures["write_mb"] < 40 and figures["write_mb"] < figures["table_mb"], figures
    assert out.stat().st_size > 0
