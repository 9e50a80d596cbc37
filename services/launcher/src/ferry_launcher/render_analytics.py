"""How ``ferry stats`` shows analytics: uploads per period with a bar each, formats, parse outcomes, who stores what."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.table import Table
from rich.text import Text

from ferry_launcher.render import size, when
from ferry_sdk.analytics import (
    FormatParseTime,
    FormatUsage,
    Granularity,
    InactiveMember,
    MemberUsage,
    OrgUsageRow,
    ParseOutcomes,
    TrendPoint,
    UploadPoint,
)

BAR_WIDTH = 30


def period(start: datetime, granularity: Granularity) -> str:
    if granularity == "month":
        return start.strftime("%Y-%m")
    if granularity == "week":
        return f"week of {start:%Y-%m-%d}"
    return start.strftime("%Y-%m-%d")


def bar(value: int, largest: int) -> Text:
    cells = round(BAR_WIDTH * value / largest) if largest else 0
    return Text("█" * max(cells, 1 if value else 0), style="cyan")


def _quiet_caption(shown: int, total: int) -> str | None:
    quiet = total - shown
    return f"{quiet} periods without uploads not shown" if quiet else None


def uploads_table(points: Sequence[UploadPoint], granularity: Granularity) -> Table:
    """Uploads per period; periods without any are counted in the caption, not listed."""
    busy = [p for p in points if p.files]
    table = Table(
        title=f"Uploads by {granularity}", title_justify="left", caption=_quiet_caption(len(busy), len(points))
    )
    for name in ("Period", "Files", "Bytes", ""):
        table.add_column(name, justify="right" if name in ("Files", "Bytes") else "left")
    largest = max((p.files for p in busy), default=0)
    for p in busy:
        table.add_row(period(p.period_start, granularity), str(p.files), size(p.bytes), bar(p.files, largest))
    return table


def trends_table(points: Sequence[TrendPoint], granularity: Granularity) -> Table:
    busy = [p for p in points if p.uploads]
    table = Table(
        title=f"Uploads by {granularity}", title_justify="left", caption=_quiet_caption(len(busy), len(points))
    )
    for name in ("Period", "Uploads", "Failed", "Bytes", ""):
        table.add_column(name, justify="left" if name in ("Period", "") else "right")
    largest = max((p.uploads for p in busy), default=0)
    for p in busy:
        failed = Text(str(p.failed), style="red" if p.failed else "")
        table.add_row(
            period(p.period_start, granularity), str(p.uploads), failed, size(p.bytes), bar(p.uploads, largest)
        )
    return table


def formats_table(formats: Sequence[FormatUsage]) -> Table:
    table = Table(title="Formats", title_justify="left")
    for name in ("Format", "Files", "Bytes", "Share"):
        table.add_column(name, justify="left" if name == "Format" else "right")
    total = sum(f.files for f in formats)
    for f in formats:
        table.add_row(f.format, str(f.files), size(f.bytes), f"{100 * f.files / total:.0f}%" if total else "-")
    return table


def outcomes_line(parse: ParseOutcomes) -> Text:
    rate = "-" if parse.success_rate is None else f"{100 * parse.success_rate:.1f}%"
    line = Text("Parse success rate ", style="bold")
    line.append(rate, style="green" if parse.success_rate == 1 else "yellow" if parse.success_rate else "")
    line.append(f"  (parsed {parse.parsed} · failed {parse.failed} · cancelled {parse.cancelled})")
    return line


def members_usage_table(members: Sequence[MemberUsage], names: dict[str, str]) -> Table:
    table = Table(title="Storage per member", title_justify="left")
    for name in ("Member", "Files", "Bytes"):
        table.add_column(name, justify="left" if name == "Member" else "right")
    for m in members:
        table.add_row(names.get(m.user_id, m.user_id), str(m.files), size(m.bytes))
    return table


def slowest_formats_table(formats: Sequence[FormatParseTime]) -> Table:
    table = Table(title="Slowest formats to parse", title_justify="left")
    for name in ("Format", "Files", "Mean", "p95"):
        table.add_column(name, justify="left" if name == "Format" else "right")
    for f in formats:
        p95 = "-" if f.p95_ms is None else f"{f.p95_ms:.0f} ms"
        table.add_row(f.format, str(f.files), f"{f.mean_ms:.0f} ms", p95)
    return table


def inactive_table(members: Sequence[InactiveMember], days: int, count: int, names: dict[str, str]) -> Table:
    shown = f", {len(members)} shown" if len(members) < count else ""
    table = Table(title=f"Inactive for {days} days or more ({count}{shown})", title_justify="left")
    for name in ("Member", "Organization", "Role", "Last upload"):
        table.add_column(name)
    for m in members:
        last = when(m.last_upload_at) if m.last_upload_at else "never"
        table.add_row(names.get(m.user_id, m.user_id), m.org_id, m.role, last)
    return table


def orgs_usage_table(orgs: Sequence[OrgUsageRow], names: dict[str, str]) -> Table:
    table = Table(title="Storage per organization", title_justify="left")
    for name in ("Organization", "Files", "Bytes"):
        table.add_column(name, justify="left" if name == "Organization" else "right")
    for o in orgs:
        label = f"{names[o.org_id]} ({o.org_id})" if o.org_id in names else o.org_id
        table.add_row(label, str(o.files), size(o.bytes))
    return table
