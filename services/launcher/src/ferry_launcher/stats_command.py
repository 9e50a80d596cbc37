"""``ferry stats``: today's counts of the active organization's files, and the analytics of a window of days.

Without flags it shows the caller's own uploads (``GET /files/stats`` and
``GET /analytics/me``); ``--org-wide`` the whole organization's (its admins and
owners; ``GET /analytics/org``); ``--platform`` every organization's (the platform
admin; ``GET /analytics/platform``). Member and organization ids are shown by
name when auth tells them (it does not to an API key).
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

import typer

from ferry_core.events import utcnow
from ferry_launcher import render, render_analytics
from ferry_launcher.client_commands import PANEL, Json, Org, Url, handled, open_client
from ferry_sdk import FerryClient, FerryError
from ferry_sdk.analytics import Granularity, OrgAnalytics, PlatformAnalytics


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


_PERIODS: dict[Period, Granularity] = {Period.day: "day", Period.week: "week", Period.month: "month"}


def stats(
    org_wide: Annotated[
        bool, typer.Option("--org-wide", help="the whole organization's files (its admins and owners)")
    ] = False,
    platform: Annotated[bool, typer.Option("--platform", help="every organization's files (platform admin)")] = False,
    days: Annotated[int, typer.Option(min=1, max=3660, help="how many days back the analytics reach")] = 30,
    granularity: Annotated[Period, typer.Option(help="the length of a period")] = Period.day,
    url: Url = None,
    org: Org = None,
    json: Json = False,
) -> None:
    """Counts of your files by status and type, then uploads per period, formats and parse success rate.

    With --json: the counts with the analytics under "analytics" (--org-wide, --platform: the analytics alone).
    """
    if org_wide and platform:
        raise typer.BadParameter("give --org-wide or --platform, not both", param_hint="--platform")
    end = utcnow()
    window: dict[str, Any] = {"start": end - timedelta(days=days), "end": end, "granularity": _PERIODS[granularity]}
    with open_client(url, org) as client:
        if platform or org_wide:
            overview = client.platform_analytics(**window) if platform else client.org_analytics(**window)
            if json:
                render.print_json(overview)
            else:
                _show_overview(client, overview)
            return
        counts, mine = client.stats(), client.my_analytics(**window)
    if json:
        render.print_json({**render.jsonable(counts), "analytics": render.jsonable(mine)})
        return
    out = render.stdout()
    out.print(render.stats_table(counts))
    out.print(render_analytics.uploads_table(mine.uploads, mine.granularity))
    out.print(render_analytics.formats_table(mine.formats))
    out.print(render_analytics.outcomes_line(mine.parse))


def _show_overview(client: FerryClient, overview: OrgAnalytics | PlatformAnalytics) -> None:
    out = render.stdout()
    scope = "every organization" if isinstance(overview, PlatformAnalytics) else f"organization {overview.org_id}"
    out.print(
        f"[bold]{scope}[/]: {overview.totals.files} files, {render.size(overview.totals.bytes)}, "
        f"members with files: {overview.member_count}",
        highlight=False,
    )
    out.print(render_analytics.trends_table(overview.trends, overview.granularity))
    out.print(render_analytics.formats_table(overview.formats))
    users = _usernames(client, overview)
    out.print(render_analytics.members_usage_table(overview.top_members, users))
    out.print(render_analytics.slowest_formats_table(overview.slowest_formats))
    if overview.inactive_count:
        inactive = overview.inactive_members
        out.print(render_analytics.inactive_table(inactive, overview.inactive_days, overview.inactive_count, users))
    if isinstance(overview, PlatformAnalytics):
        out.print(render_analytics.orgs_usage_table(overview.orgs, _org_names(client)))


def _usernames(client: FerryClient, overview: OrgAnalytics | PlatformAnalytics) -> dict[str, str]:
    """Member names of the organization, from auth; none for the platform view or an API key (ids are shown)."""
    if isinstance(overview, PlatformAnalytics):
        return {}
    try:
        return {m.user_id: m.username for m in client.list_members(overview.org_id)}
    except FerryError:
        return {}


def _org_names(client: FerryClient) -> dict[str, str]:
    try:
        return {o.org_id: o.name for o in client.list_orgs(all=True, limit=200).items}
    except FerryError:
        return {}


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(handled(stats))
