"""Bodies of the job API: analyses and conversions of parsed files (docs/DECISIONS.md, "Public API (ingest)")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ferry_core.events import ErrorInfo, JobStatus
from ferry_core.jobs import CONTENT_TYPES


class ConversionCreate(BaseModel):
    to: str = Field(
        max_length=20,
        description=f"The target format, one of {', '.join(CONTENT_TYPES)} (which ones apply depends on the file)",
    )
    sheet: str | None = Field(
        default=None, max_length=1000, description="A workbook's sheet to convert (a table's; default: the first)"
    )


class _JobView(BaseModel):
    status: JobStatus
    progress: int = Field(ge=0, le=100)
    done: int = Field(default=0, description="Units done (`unit`: pages of an analysis, rows or pages of a conversion)")
    total: int | None = Field(default=None, description="Units in all, once known")
    unit: str | None = None
    error: ErrorInfo | None = Field(default=None, description="Why it failed (`code` converter_unavailable: 501)")
    created_at: datetime
    finished_at: datetime | None = None


class Conversion(_JobView):
    conversion_id: str
    file_id: str
    to: str
    sheet: str | None = None
    filename: str | None = Field(default=None, description="The name the result downloads as, once done")
    content_type: str
    size: int | None = Field(default=None, description="Bytes of the result, once done")
    sha256: str | None = None
    download_url: str | None = Field(default=None, description="Where to download the result, once done")


class ConversionList(BaseModel):
    items: list[Conversion]
    total: int
    limit: int
    offset: int


class AnalysisResult(BaseModel):
    """The whole-document result; the fields are described in docs/DECISIONS.md ("Analysis result")."""

    model_config = ConfigDict(extra="allow")

    language: dict[str, Any] | None = Field(default=None, description="`{code, name, confidence}`; null: too short")
    sentences: dict[str, Any] = Field(default_factory=dict, description="`{count, sample: [{page, text, sentiment}]}`")
    keywords: list[dict[str, Any]] = Field(default_factory=list, description="`[{text, score}]`, best first (YAKE)")
    sentiment: dict[str, Any] = Field(
        default_factory=dict, description="`{supported, polarity, subjectivity, label}` or `{supported: false, reason}`"
    )
    reading: dict[str, Any] = Field(
        default_factory=dict,
        description="`{words, unique_words, sentences, average_sentence_length, readability}`",
    )
    pages: int = Field(default=0, description="How many page results there are")


class AnalysisPages(BaseModel):
    total: int
    offset: int
    limit: int
    items: list[dict[str, Any]] = Field(description="Page results: `{number, words, sentences, keywords, sentiment}`")


class Analysis(_JobView):
    analysis_id: str
    file_id: str
    result: AnalysisResult | None = Field(default=None, description="Once done")
    pages: AnalysisPages


def job_fields(job: dict[str, Any]) -> dict[str, Any]:
    """What every job view shares, from the record."""
    return {
        "status": job["status"],
        "progress": job.get("progress", 0),
        "done": job.get("done") or 0,
        "total": job.get("total"),
        "unit": job.get("unit"),
        "error": job.get("error"),
        "created_at": job["created_at"],
        "finished_at": job.get("finished_at"),
    }


def conversion_of(job: dict[str, Any]) -> Conversion:
    """A conversion's view; what the result is (name, type, size, digest) once it is done."""
    result = job.get("result") or {}
    target = str(job["target"])
    done = job["status"] == JobStatus.DONE
    return Conversion(
        **job_fields(job),
        conversion_id=str(job["_id"]),
        file_id=job["file_id"],
        to=target,
        sheet=job.get("sheet"),
        filename=result.get("filename"),
        content_type=result.get("content_type") or CONTENT_TYPES.get(target, "application/octet-stream"),
        size=result.get("size"),
        sha256=result.get("sha256"),
        download_url=f"/files/{job['file_id']}/conversions/{job['_id']}/download" if done else None,
    )
