"""``ferry analyze`` and ``ferry convert``: a parsed file's analysis, and copies of it in other formats.

Both start a job on the server (or find the one already there) and wait for it:
``analyze`` polls until the analysis ends and prints its figures; ``convert`` asks the
server to wait (``?wait=``) and writes the result where ``--output`` says.
"""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from ferry_launcher import render
from ferry_launcher.client_commands import (
    EXIT_FILE_FAILED,
    PANEL,
    FileId,
    Json,
    Org,
    Url,
    handled,
    open_client,
)
from ferry_sdk import Analysis, Conversion, FerryClient, JobStatus

SERVER_WAIT = 60.0
"""The longest the server waits per request (``?wait=``); longer waits ask again."""


def analyze(
    file_id: FileId,
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for the result (0: start it and return)")] = 300,
    url: Url = None,
    org: Org = None,
    json: Json = False,
) -> None:
    """Analyse a parsed file (language, sentences, keywords, sentiment, reading figures) and print the result."""
    with open_client(url, org) as client:
        analysis = client.analyze(file_id)
        if wait > 0 and not analysis.finished:
            analysis = client.wait_analysis(file_id, timeout=wait)
    if json:
        render.print_json(analysis)
    else:
        _print_analysis(analysis)
    if analysis.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        raise typer.Exit(EXIT_FILE_FAILED)


def convert(
    file_id: FileId,
    to: Annotated[str, typer.Option("--to", "-t", help="csv, xlsx, json, ndjson, parquet, txt, md or pdf")],
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="where to write the result ('-': stdout; default: its name)")
    ] = None,
    sheet: Annotated[str | None, typer.Option(help="the sheet of a workbook (default: the first)")] = None,
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for the result")] = 300,
    url: Url = None,
    org: Org = None,
    json: Json = False,
) -> None:
    """Convert a parsed file to another format and download the result."""
    with open_client(url, org) as client:
        conversion = _converted(client, file_id, to, sheet, wait)
        if json:
            render.print_json(conversion)
        if conversion.status != JobStatus.DONE:
            _print_unfinished(conversion)
            raise typer.Exit(EXIT_FILE_FAILED)
        if output == "-":
            client.download_conversion(file_id, conversion.conversion_id, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        target = output or conversion.filename or f"{file_id}.{to}"
        written = client.download_conversion(file_id, conversion.conversion_id, target)
    render.stderr().print(f"Wrote {render.size(written)} to {target}", highlight=False)


def _converted(client: FerryClient, file_id: str, to: str, sheet: str | None, wait: float) -> Conversion:
    """Start (or find) the conversion; ask the server to wait for it, in turns, for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    conversion = client.convert(file_id, to, sheet=sheet, wait=min(wait, SERVER_WAIT))
    while not conversion.finished and time.monotonic() < deadline:
        conversion = client.convert(file_id, to, sheet=sheet, wait=min(deadline - time.monotonic(), SERVER_WAIT))
    return conversion


def _print_unfinished(conversion: Conversion) -> None:
    err = render.stderr()
    if conversion.error is not None:
        err.print(f"Conversion {conversion.status}: {conversion.error.message}", highlight=False)
    else:
        err.print(f"Conversion still {conversion.status} ({conversion.progress}%); try again later.", highlight=False)


def _print_analysis(analysis: Analysis) -> None:
    out = render.stdout()
    if analysis.result is None:
        detail = analysis.error.message if analysis.error else f"{analysis.progress}% done"
        out.print(f"Analysis {analysis.status}: {detail}", highlight=False)
        return
    result = analysis.result
    summary = Table(title="Analysis", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("")
    language = result.language or {}
    summary.add_row("language", f"{language.get('name', '-')} ({language.get('code', '?')})" if language else "-")
    reading = result.reading
    for name in ("words", "unique_words", "sentences", "average_sentence_length"):
        summary.add_row(name.replace("_", " "), _number(reading.get(name)))
    readability = reading.get("readability") or {}
    summary.add_row("readability", f"{_number(readability.get('score'))} {readability.get('name', '')}".strip())
    summary.add_row("sentiment", _sentiment(result.sentiment))
    summary.add_row("pages", str(result.pages))
    out.print(summary)
    keywords = Table(title="Keywords (YAKE: lower is more relevant)")
    keywords.add_column("keyword")
    keywords.add_column("score", justify="right")
    for keyword in result.keywords[:15]:
        keywords.add_row(str(keyword.get("text", "")), _number(keyword.get("score")))
    out.print(keywords)


def _sentiment(sentiment: dict[str, Any]) -> str:
    if not sentiment.get("supported"):
        return str(sentiment.get("reason", "unsupported"))
    polarity, subjectivity = _number(sentiment.get("polarity")), _number(sentiment.get("subjectivity"))
    return f"{sentiment.get('label')} (polarity {polarity}, subjectivity {subjectivity})"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return "-" if value is None else str(value)


def register(app: typer.Typer) -> None:
    for command in (analyze, convert):
        app.command(rich_help_panel=PANEL)(handled(command))
