"""How the client commands show things: rich tables on a terminal, JSON for ``--json``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ferry_sdk import FileDetail, FileRecord, FileStats, Member, Message, Org, OrgSummary, PagesContent, TableContent

STATUS_STYLES = {
    "parsed": "green",
    "failed": "red",
    "refused": "red",
    "cancelled": "yellow",
    "parsing": "cyan",
    "queued": "blue",
    "uploading": "blue",
}


def stdout() -> Console:
    return Console(soft_wrap=False)


def stderr() -> Console:
    return Console(stderr=True)


def print_json(value: Any) -> None:
    """JSON on stdout, whatever the terminal (models in their API shape)."""
    print(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def status(value: str) -> Text:
    return Text(value, style=STATUS_STYLES.get(value, ""))


def when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def extent(record: FileRecord) -> str:
    """What a parse found, in a few words: rows (and sheets) of a table, pages of a document."""
    summary = record.summary
    if summary is None:
        return "-"
    if summary.kind == "table":
        sheets = f" in {len(summary.sheets)} sheets" if len(summary.sheets) > 1 else ""
        return f"{summary.rows} rows{sheets}"
    return f"{summary.pages} pages" if summary.pages else summary.kind


def files_table(records: Iterable[FileRecord], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("ID", "Name", "Type", "Size", "Status", "Progress", "Content", "Created"):
        table.add_column(name, no_wrap=name in ("ID", "Created"))
    for r in records:
        table.add_row(
            r.file_id,
            r.filename,
            r.format,
            size(r.size),
            status(r.status),
            f"{r.progress}%",
            extent(r),
            when(r.created_at),
        )
    return table


def detail_table(record: FileDetail) -> Table:
    table = Table(show_header=False, title=record.filename, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("ID", record.file_id),
        ("Name", record.filename),
        ("Type", f"{record.format} ({record.content_type})"),
        ("Size", f"{size(record.size)} ({record.size} bytes)"),
        ("SHA-256", record.sha256 or "-"),
        ("Status", status(record.status)),
        ("Stage", f"{record.stage} · {record.progress}%"),
        ("Content", extent(record)),
        ("Created", when(record.created_at)),
        ("Updated", when(record.updated_at)),
    ]
    if record.duration_ms is not None:
        rows.append(("Parse time", f"{record.duration_ms} ms"))
    if record.error is not None:
        rows.append(("Error", Text(f"{record.error.code}: {record.error.message}", style="red")))
    for key, value in rows:
        table.add_row(key, value)
    return table


def columns_table(record: FileDetail) -> Table | None:
    summary = record.summary
    if summary is None or not summary.columns:
        return None
    table = Table(title="Columns", title_justify="left")
    for name in ("Column", "Type", "Nulls", "Min", "Max"):
        table.add_column(name)
    for column in summary.columns:
        table.add_row(column.name, column.type, _cell(column.nulls), _cell(column.min), _cell(column.max))
    return table


def content_table(page: TableContent | PagesContent, text_width: int = 100) -> Table:
    end = page.offset + (len(page.rows) if isinstance(page, TableContent) else len(page.pages))
    what = "rows" if isinstance(page, TableContent) else "pages"
    sheet = f" of sheet {page.sheet}" if isinstance(page, TableContent) and page.sheet else ""
    caption = f"{what} {page.offset + 1 if end else 0}–{end} of {page.total}{sheet}"
    table = Table(caption=caption, caption_justify="left")
    if isinstance(page, TableContent):
        for column in page.columns:
            table.add_column(column)
        for row in page.rows:
            table.add_row(*(_cell(value) for value in row))
    else:
        table.add_column("Page", justify="right")
        table.add_column("Text")
        for item in page.pages:
            text = " ".join(str(item.get("text", "")).split())
            table.add_row(str(item.get("number", "")), text[:text_width] + ("…" if len(text) > text_width else ""))
    return table


def stats_table(stats: FileStats) -> Table:
    table = Table(title="Files", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("files", str(stats.total_files))
    table.add_row("bytes", size(stats.total_bytes))
    mean = stats.mean_processing_ms
    table.add_row("mean parse time", f"{mean:.0f} ms" if mean is not None else "-")
    for name, count in sorted(stats.by_status.items()):
        table.add_row(Text(f"status {name}"), str(count))
    for name, count in sorted(stats.by_type.items()):
        table.add_row(f"type {name}", str(count))
    return table


def orgs_table(orgs: Iterable[OrgSummary], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("ID", "Name", "Your role", "Created"):
        table.add_column(name, no_wrap=name in ("ID", "Created"))
    for org in orgs:
        name = f"{org.name} (personal)" if org.personal else org.name
        table.add_row(org.org_id, name, org.role, when(org.created_at))
    return table


def org_table(org: Org) -> Table:
    table = Table(show_header=False, title=org.name, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    quotas, usage = org.quotas, org.usage
    rows = [
        ("ID", org.org_id),
        ("Personal", "yes" if org.personal else "no"),
        ("Your role", org.role),
        ("Members", str(org.members)),
        ("Created", when(org.created_at)),
        ("Stored", f"{size(usage.bytes)} in {usage.files} files" if usage.measured_at else "not counted yet"),
        ("Quota: bytes", size(quotas.max_bytes) if quotas.max_bytes is not None else "no limit"),
        ("Quota: files", _limit(quotas.max_files)),
        ("Quota: uploads per minute", _limit(quotas.uploads_per_minute)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def members_table(members: Iterable[Member], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("User ID", "Username", "Role", "Joined"):
        table.add_column(name, no_wrap=name in ("User ID", "Joined"))
    for m in members:
        table.add_row(m.user_id, m.username, m.role, when(m.joined_at))
    return table


def _limit(value: int | None) -> str:
    return "no limit" if value is None else str(value)


def message_line(message: Message, names: dict[str, str]) -> Text:
    if (batch := message.batch) is not None:
        counts = "  ".join(f"{name} {count}" for name, count in sorted(batch.counts.items()))
        return Text(f"batch {batch.batch_id}  {batch.progress:>3}%  {batch.files} files  {counts}  rows {batch.rows}")
    progress = message.progress
    subject = message.subject or "-"
    label = names.get(subject, subject)
    if progress is None:
        return Text(f"{label}  {message.type}  {message.detail or ''}".rstrip())
    line = Text(f"{label}  ")
    line.append(status(progress.status))
    line.append(f"  {progress.progress:>3}%  {progress.stage}")
    if progress.rows_done:
        line.append(f"  rows {progress.rows_done}")
    if progress.pages_done:
        line.append(f"  pages {progress.pages_done}/{progress.pages_total or '?'}")
    if progress.error is not None:
        line.append(f"  {progress.error.code}: {progress.error.message}", style="red")
    return line


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def results_table(rows: Sequence[dict[str, Any]]) -> Table:
    """The final table of ``ferry upload``: one row per file given."""
    table = Table(title="Uploads", title_justify="left")
    for name in ("File", "ID", "Status", "Type", "Size", "Content", "Detail"):
        table.add_column(name, no_wrap=name == "ID")
    for row in rows:
        table.add_row(
            row["path"],
            row.get("file_id") or "-",
            status(row["status"]),
            row.get("format") or "-",
            size(row.get("size")),
            row.get("content") or "-",
            Text(row.get("detail") or "", style="red" if row["status"] in ("refused", "failed") else ""),
        )
    return table
