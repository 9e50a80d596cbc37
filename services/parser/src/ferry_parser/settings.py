"""The parser's settings, from ``FERRY_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ferry_core.settings import CommonSettings


class ParserSettings(CommonSettings):
    port: int = 8003

    parse_concurrency: int = Field(default=1, ge=1, description="Files parsed at once by this replica.")
    chunk_rows: int = Field(default=2000, ge=1, description="Most rows (or pages) stored in one chunk.")
    max_chunk_bytes: int = Field(
        default=1_000_000, ge=1024, description="Rough upper bound of one chunk's size; MongoDB's hard limit is 16 MB."
    )
    progress_interval: float = Field(default=0.25, ge=0, description="Least seconds between progress events per file.")
    parse_tmp_dir: Path | None = Field(
        default=None, description="Where downloads are staged; the system temp dir if unset."
    )
    parse_memory_limit_mb: int = Field(
        default=1024,
        ge=0,
        description="Most resident memory one parse may use (its worker process is killed above it); 0: no limit.",
    )
    parse_timeout_seconds: float = Field(
        default=600, ge=0, description="Most seconds one parse may take in its worker process; 0: no limit."
    )
    parse_worker_max_files: int = Field(
        default=50, ge=0, description="Files a worker process parses before it is replaced by a fresh one; 0: never."
    )
    max_pages: int = Field(default=5000, ge=1, description="Most pages of a PDF; longer ones fail with too_many_pages.")
    max_uncompressed_mb: int = Field(
        default=1024, ge=1, description="Most a workbook (xlsx, ods) may inflate to; more fails with zip_bomb."
    )
    max_compression_ratio: float = Field(
        default=100.0, ge=1, description="Highest inflate ratio of a large workbook member; above it: zip_bomb."
    )
    job_concurrency: int = Field(default=1, ge=1, description="Analyses and conversions run at once by this replica.")
    job_memory_limit_mb: int = Field(
        default=1024,
        ge=0,
        description="Most resident memory one analysis or conversion may use (its process is killed above); 0: none.",
    )
    job_timeout_seconds: float = Field(
        default=900, ge=0, description="Most seconds one analysis or conversion may take in its process; 0: no limit."
    )
    analysis_table_rows: int = Field(
        default=50, ge=1, description="Rows of a table whose text cells are analysed together as one unit (a page)."
    )
    shutdown_grace_seconds: float = Field(
        default=30,
        ge=0,
        description="On SIGTERM, how long files being parsed may take to finish before going back to the queue.",
    )
