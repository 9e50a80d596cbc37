"""Conversions of a parsed file to another format, written to a local file the job runtime uploads.

The interface the job runtime uses (``ferry_parser.jobs``); the implementation lives in
this package's modules. Every writer streams: rows and pages come in batches, and
the output is written as they come, so memory is bounded by a batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ferry_parser.conversion.tables import write_table
from ferry_parser.errors import ParseError

__all__ = ["ConverterUnavailable", "convert_with_libreoffice", "libreoffice_path", "write_pages", "write_table"]


class ConverterUnavailable(ParseError):
    """The conversion needs a program this machine lacks (LibreOffice); the gateway answers 501."""

    code = "converter_unavailable"


def write_pages(pages: Iterator[dict[str, Any]], target: str, out: Path, *, title: str) -> None:
    """Parsed pages (``{number, text, blocks?}``) → txt, md or pdf at ``out``; ``title`` heads md and pdf."""
    raise NotImplementedError("being written")


def libreoffice_path() -> str | None:
    """The ``soffice`` program (``FERRY_LIBREOFFICE`` or on ``PATH``), or None where LibreOffice is absent."""
    raise NotImplementedError("being written")


def convert_with_libreoffice(source: Path, out: Path, *, timeout: float, memory_mb: int) -> None:
    """``source`` (a .docx) → PDF at ``out``, LibreOffice headless in its own process with a time and memory cap.

    Raises ``ConverterUnavailable`` without LibreOffice, and a ``ParseError`` naming the
    cause when it fails, times out or runs out of memory.
    """
    raise NotImplementedError("being written")
