"""What crosses between the parser and a job's process: pickled messages over one socket.

- parent → child: one task (``AnalysisTask``, ``TableTask``, ``PagesTask``, ``OfficeTask``,
  or the tests' ``CallTask``), then the input in ``Batch``es and ``End`` (none for
  ``OfficeTask``, which reads its source file).
- child → parent: ``Consumed`` as the engine takes the input, ``PageResults`` as an analysis
  makes them, then ``Finished`` or ``Failed``.

The socket's buffer is the backpressure: the parent's sends wait while the child is
busy, so neither side holds more than a few batches (each one stored chunk) of input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ferry_core.events import ColumnInfo


@dataclass(frozen=True)
class AnalysisTask:
    """Analyse the units (``(number, text)`` pairs) that follow."""


@dataclass(frozen=True)
class TableTask:
    """Write the rows that follow (value lists in ``columns``' order) as ``target`` at ``out``."""

    columns: list[ColumnInfo]
    target: str
    out: Path


@dataclass(frozen=True)
class PagesTask:
    """Write the pages that follow (``{number, text, blocks?}``) as ``target`` at ``out``."""

    target: str
    out: Path
    title: str
    kind: str
    """The parsed summary's kind: ``pages`` (a PDF) keeps page boundaries; ``text`` and ``document`` flow."""


@dataclass(frozen=True)
class OfficeTask:
    """Convert ``source`` to PDF at ``out`` with LibreOffice; no input follows."""

    source: Path
    out: Path
    timeout: float
    memory_mb: int
    workdir: Path
    """Where LibreOffice's private folder (profile, output) is made: the job's own folder."""


@dataclass(frozen=True)
class CallTask:
    """Tests only: run ``"module:function"(argument, items, send)`` and finish with what it returns."""

    function: str
    argument: Any = None


Task = AnalysisTask | TableTask | PagesTask | OfficeTask | CallTask


@dataclass(frozen=True)
class Batch:
    items: list[Any]


@dataclass(frozen=True)
class End:
    pass


@dataclass(frozen=True)
class Consumed:
    """The engine has taken ``done`` input items (units, rows or pages) so far."""

    done: int


@dataclass(frozen=True)
class PageResults:
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class Finished:
    document: dict[str, Any] | None = None
    """An analysis's whole-document result; None for a conversion (its output is the file)."""


@dataclass(frozen=True)
class Failed:
    """Why a task has no result.

    ``content``: the input's fault (``code``); ``memory``: a ``MemoryError``; ``os``: the disk's; ``internal``: a bug.
    """

    kind: Literal["content", "memory", "os", "internal"]
    message: str
    code: str = ""
    errno: int | None = None


ToChild = Task | Batch | End
FromChild = Consumed | PageResults | Finished | Failed
