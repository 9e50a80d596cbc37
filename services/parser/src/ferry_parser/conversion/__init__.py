"""Conversions of a parsed file to another format, written to a local file the job runtime uploads.

The interface the job runtime uses (``ferry_parser.jobs``), one module per concern:
``tables`` (csv, json, ndjson; ``xlsx`` and ``parquet`` beside it), ``pages`` (txt,
md through ``markdown``; pdf through ``pdf_render``) and ``libreoffice`` (docx → pdf).
Every writer streams: rows come in batches and pages one by one, and the output is
written as they come, so memory is bounded by a batch (each module says what else it holds).
"""

from __future__ import annotations

from ferry_parser.conversion.libreoffice import (
    ConversionFailed,
    ConversionOutOfMemory,
    ConversionTimeout,
    ConverterUnavailable,
    convert_with_libreoffice,
    libreoffice_path,
)
from ferry_parser.conversion.pages import write_pages
from ferry_parser.conversion.tables import write_table

__all__ = [
    "ConversionFailed",
    "ConversionOutOfMemory",
    "ConversionTimeout",
    "ConverterUnavailable",
    "convert_with_libreoffice",
    "libreoffice_path",
    "write_pages",
    "write_table",
]
