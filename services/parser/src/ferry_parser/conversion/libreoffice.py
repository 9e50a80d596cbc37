"""Word documents → PDF with LibreOffice headless, run as a contained, capped and killable process.

Each conversion starts ``soffice`` with a private user profile in a fresh folder
(so conversions never share or lock a profile, and nothing stays behind), in a
process group of its own (so a timeout kills LibreOffice and every helper it
started), with its memory capped twice over, as the parser's workers are: its
resident memory is sampled and the group killed past ``memory_mb``, and its data
segment is limited (``RLIMIT_DATA``, set by ``prlimit`` before LibreOffice starts)
at twice that as a backstop. Where unprivileged user namespaces are allowed it
also runs without a network (``unshare -rn``): a document may link remote images,
and the converter must not fetch them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ferry_parser.errors import ParseError
from ferry_parser.isolation import descendants

ENV_VAR = "FERRY_LIBREOFFICE"
PROGRAMS = ("soffice", "libreoffice")
DATA_LIMIT_FACTOR = 2
SAMPLE_SECONDS = 0.05
_MB = 1024 * 1024
_NEAR_LIMIT = 0.75
"""A crash after a sample this close to either cap is taken to be the cap's doing (a failed allocation aborts)."""


class ConverterUnavailable(ParseError):
    """The conversion needs a program this machine lacks (LibreOffice); the gateway answers 501."""

    code = "converter_unavailable"


class ConversionFailed(ParseError):
    code = "conversion_failed"


class ConversionTimeout(ParseError):
    code = "timeout"


class ConversionOutOfMemory(ParseError):
    code = "memory_limit"


def libreoffice_path() -> str | None:
    """The ``soffice`` program (``FERRY_LIBREOFFICE`` or on ``PATH``), or None where LibreOffice is absent.

    ``FERRY_LIBREOFFICE`` may name a program on ``PATH`` or give its path; when it is
    set, nothing else is tried.
    """
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        return shutil.which(configured)
    return next((found for name in PROGRAMS if (found := shutil.which(name))), None)


def convert_with_libreoffice(
    source: Path, out: Path, *, timeout: float, memory_mb: int, workdir: Path | None = None
) -> None:
    """``source`` (a .docx) → PDF at ``out``, LibreOffice headless in its own process with a time and memory cap.

    Raises ``ConverterUnavailable`` without LibreOffice, and a ``ParseError`` naming the
    cause when it fails, times out or runs out of memory. ``workdir`` is where the
    private folder is made (the system's temporary folder by default).
    """
    program = libreoffice_path()
    if program is None:
        raise ConverterUnavailable("LibreOffice is not installed where this conversion ran, so it cannot make a PDF.")
    with tempfile.TemporaryDirectory(prefix="ferry-libreoffice-", dir=workdir) as private:
        root = Path(private)
        document = root / f"document{source.suffix.lower() or '.docx'}"
        os.symlink(source.resolve(), document)
        (root / "out").mkdir()
        command = [
            program,
            "--headless",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            f"-env:UserInstallation={(root / 'profile').as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(root / "out"),
            str(document),
        ]
        code, peak = _run(_contained(command, memory_mb), root, timeout=timeout, memory_mb=memory_mb)
        result = root / "out" / f"{document.stem}.pdf"
        if code == 0 and result.is_file() and result.stat().st_size > 0:
            shutil.move(result, out)
            return
        if memory_mb > 0 and peak.near(memory_mb * _MB):
            raise ConversionOutOfMemory(f"LibreOffice ran out of its {memory_mb:,} MB converting the document.")
        if code < 0 or code > 128:  # a signal: directly, or as the exit status of the wrapper script
            raise ConversionFailed(f"LibreOffice crashed ({_signal_name(abs(code) % 128)}) converting the document.")
        log = (root / "log").read_text(errors="replace")
        raise ConversionFailed(f"LibreOffice could not convert the document to PDF{_reason(log)}.")


def _contained(command: list[str], memory_mb: int) -> list[str]:
    if memory_mb > 0 and (prlimit := shutil.which("prlimit")):
        command = [prlimit, f"--data={memory_mb * _MB * DATA_LIMIT_FACTOR}", "--", *command]
    if (unshare := shutil.which("unshare")) and _namespaces_allowed(unshare):
        command = [unshare, "--map-root-user", "--net", "--", *command]
    return command


@functools.cache
def _namespaces_allowed(unshare: str) -> bool:
    """Whether this machine lets an unprivileged process have a network namespace of its own."""
    try:
        probe = subprocess.run([unshare, "--map-root-user", "--net", "--", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def _run(command: list[str], root: Path, *, timeout: float, memory_mb: int) -> tuple[int, _Usage]:
    """Run ``command`` in its own session, its whole group killed on timeout or past ``memory_mb``.

    Returns its exit status and the most memory it was seen using.
    """
    env = {**os.environ, "HOME": str(root), "TMPDIR": str(root), "SAL_USE_VCLPLUGIN": "svp"}
    with (root / "log").open("wb") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    deadline = time.monotonic() + timeout
    peak = _Usage()
    try:
        while True:
            try:
                process.wait(timeout=min(SAMPLE_SECONDS, max(deadline - time.monotonic(), 0.001)))
                break
            except subprocess.TimeoutExpired:
                pass
            usage = _group_usage(process.pid)
            peak = _Usage(max(peak.rss, usage.rss), max(peak.data, usage.data))
            if memory_mb > 0 and usage.rss > memory_mb * _MB:
                raise ConversionOutOfMemory(f"LibreOffice needed more than {memory_mb:,} MB to convert the document.")
            if time.monotonic() >= deadline:
                raise ConversionTimeout(f"LibreOffice did not convert the document within {timeout:g} seconds.")
    finally:
        _kill_group(process)
    return process.returncode, peak


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill every process of the conversion's group (LibreOffice leaves helpers behind when it is killed)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@dataclass(frozen=True)
class _Usage:
    rss: int = 0
    """Resident private memory (``RssAnon``) of the whole group, in bytes."""
    data: int = 0
    """The largest data segment (``VmData``) of one process of the group: what ``RLIMIT_DATA`` caps."""

    def near(self, cap: int) -> bool:
        return self.rss >= cap * _NEAR_LIMIT or self.data >= cap * DATA_LIMIT_FACTOR * _NEAR_LIMIT


def _group_usage(leader: int) -> _Usage:
    rss = data = 0
    for pid in descendants(leader):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss += _kilobytes(fields.get("RssAnon"))
        data = max(data, _kilobytes(fields.get("VmData")))
    return _Usage(rss, data)


def _kilobytes(field: str | None) -> int:
    return int(field.split()[0]) * 1024 if field else 0


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _reason(log: str) -> str:
    """LibreOffice's own complaint, if it printed one (``Error: source file could not be loaded``)."""
    for line in log.splitlines():
        if line.startswith("Error:"):
            return f" ({line.removeprefix('Error:').strip()})"
    return ""
