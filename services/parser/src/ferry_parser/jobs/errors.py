"""How a job ends without a result: the job's failures (a ``ParseError`` with its code) and a cancel."""

from __future__ import annotations

from ferry_parser.errors import ParseError


class JobCancelled(Exception):
    """The job was cancelled (or its file deleted) while it ran; nothing of it is kept or announced."""


class NotParsed(ParseError):
    """The file has no parsed content (not parsed yet, failed, or deleted)."""

    code = "not_parsed"


class UnsupportedTarget(ParseError):
    code = "unsupported_target"


class UnknownSheet(ParseError):
    code = "unknown_sheet"


class JobTimeout(ParseError):
    code = "timeout"


class JobMemoryLimit(ParseError):
    code = "memory_limit"


class JobCrashed(ParseError):
    """The job's process died (a signal, an exit code) or failed for a reason that is not the content's."""

    code = "worker_crashed"
