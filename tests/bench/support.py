"""What the benchmarks share: reading a process's memory from /proc, and printing a table of results."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
REPO = Path(__file__).resolve().parents[2]


def status_kib(pid: int, field: str) -> int:
    """A ``Vm*`` line of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time ``pid`` has used so far, all its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time every process of the machine has used so far, all cores together (``/proc/stat``)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak RSS (``VmHWM``) of ``pid`` to its current RSS; False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Samples ``VmRSS`` of ``pid`` every ``interval`` seconds in a thread and keeps the peak (KiB).

    Alongside, the kernel's own peak (``VmHWM``, reset on entry where the kernel allows it)
    catches a spike shorter than the sampling interval.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.baseline = 0
        self.sampled_peak = 0
        self.kernel_peak: int | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)
        self._hwm_reset = False

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.sampled_peak = max(self.sampled_peak, status_kib(self.pid, "VmRSS"))
                self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._hwm_reset = reset_peak(self.pid)
        self.baseline = status_kib(self.pid, "VmRSS")
        self.sampled_peak = self.baseline
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sampled_peak = max(self.sampled_peak, status_kib(self.pid, "VmRSS"))
        if self._hwm_reset:
            self.kernel_peak = status_kib(self.pid, "VmHWM")

    @property
    def peak_kib(self) -> int:
        """Peak RSS: the larger of the sampled and the kernel's peak."""
        return max(self.sampled_peak, self.kernel_peak or 0)

    @property
    def growth_mib(self) -> float:
        """Peak RSS above the baseline."""
        return max(0, self.peak_kib - self.baseline) / 1024

    @property
    def sampled_growth_mib(self) -> float:
        return max(0, self.sampled_peak - self.baseline) / 1024


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]], notes: Sequence[str] = ()) -> str:
    """A plain-text table, right-aligned, with a title and notes underneath."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title, "-" * len(title)]
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += [f"  {note}" for note in notes]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def seconds_list(values: Sequence[float]) -> str:
    """Measured seconds as ``1.23/1.31/...``, for a table's notes."""
    return "/".join(f"{t:.2f}" for t in values)


def memprobe(mode: str, path: Path, workdir: Path, timeout: float = 120) -> dict[str, Any]:
    """One ``tests.bench.memprobe`` pass of ``mode`` over ``path`` in a fresh process: rows, seconds, RSS (KiB)."""
    workdir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "tests.bench.memprobe", mode, str(path), str(workdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(text: str) -> None:
    """Print a result table so that it stands out in ``pytest -s`` output (and survives capture in -rA)."""
    print(f"\n\n{text}\n", flush=True)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
