"""Sample file events for tests: valid payloads with defaults for what a test does not care about."""

from __future__ import annotations

from ferry_core.events import (
    ErrorInfo,
    FileFailed,
    FileParsed,
    FileProgress,
    FileStatus,
    FileUploaded,
    Stage,
    Summary,
)


def file_uploaded(
    file_id: str, owner_id: str = "alice", *, filename: str = "a.csv", size: int = 1, blob_key: str | None = None
) -> FileUploaded:
    """A CSV upload, stored under ``blob_key`` (the file id unless given)."""
    return FileUploaded(
        file_id=file_id,
        owner_id=owner_id,
        filename=filename,
        content_type="text/csv",
        size=size,
        sha256="0" * 64,
        format="csv",
        blob_key=blob_key or file_id,
    )


def file_progress(
    file_id: str, owner_id: str = "alice", pct: int = 50, status: FileStatus = FileStatus.PARSING
) -> FileProgress:
    """Parsing progress of ``pct`` percent."""
    return FileProgress(file_id=file_id, owner_id=owner_id, status=status, stage=Stage.PARSE, progress=pct)


def file_parsed(file_id: str, owner_id: str = "alice", *, rows: int = 12, duration_ms: int = 3) -> FileParsed:
    """A table of ``rows`` rows, parsed."""
    return FileParsed(
        file_id=file_id, owner_id=owner_id, summary=Summary(kind="table", rows=rows), duration_ms=duration_ms
    )


def file_failed(
    file_id: str, owner_id: str = "alice", *, code: str = "parse_error", message: str = "bad input"
) -> FileFailed:
    """A parse that failed with ``code``."""
    return FileFailed(
        file_id=file_id, owner_id=owner_id, stage=Stage.PARSE, error=ErrorInfo(code=code, message=message)
    )


__all__ = ["file_failed", "file_parsed", "file_progress", "file_uploaded"]
