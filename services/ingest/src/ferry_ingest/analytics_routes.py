"""``GET /analytics/*``: figures for dashboards, over the caller's files, an organization's, or every one's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request
from pymongo.asynchronous.database import AsyncDatabase

from ferry_core.events import utcnow
from ferry_core.infra import Document
from ferry_core.tasks import stop_task
from ferry_ingest.analytics import AnalyticsRepository, Doc
from ferry_ingest.analytics_schemas import MyAnalytics, OrgAnalytics, PlatformAnalytics
from ferry_ingest.analytics_window import Granularity, Window
from ferry_ingest.deps import ActiveOrg, CurrentUser
from ferry_ingest.errors import Forbidden, error_responses
from ferry_ingest.settings import IngestSettings
from ferry_ingest.ttl_cache import TtlCache

log = structlog.get_logger(__name__)


class Analytics:
    """The pipelines and the cache in front of them, as the app wires them."""

    def __init__(self, repo: AnalyticsRepository, cache: TtlCache) -> None:
        self.repo = repo
        self.cache = cache
        self._warming: asyncio.Task[None] | None = None

    def warm(self) -> None:
        """Bring the rollups up to date in the background, so the first read after a start does not.

        On a database that has none yet this builds them all, which takes seconds per 100,000 records;
        a read arriving meanwhile waits for it instead of starting its own.
        """
        self._warming = asyncio.create_task(self._refresh(), name="analytics-warm")

    async def stop(self) -> None:
        await stop_task(self._warming)

    async def _refresh(self) -> None:
        try:
            await self.repo.rollups.refresh()
        except Exception as exc:  # the next read refreshes again
            log.warning("could not bring the analytics rollups up to date at start", error=str(exc))

    async def cached(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        return await self.cache.get_or_compute(key, compute)

    def after_removal(self, then: Callable[[Doc], Awaitable[None]]) -> Callable[[Doc], Awaitable[None]]:
        """The outbox relay's removal callback: the record's day is recomputed at the next refresh, then ``then``."""

        async def removed(record: Doc) -> None:
            await self.repo.rollups.removed(record)
            await then(record)

        return removed


def _analytics(request: Request) -> Analytics:
    analytics: Analytics = request.app.state.analytics
    return analytics


Service = Annotated[Analytics, Depends(_analytics)]
From = Annotated[datetime | None, Query(alias="from", description="Start (inclusive); default: 30 days before `to`")]
To = Annotated[datetime | None, Query(description="End (exclusive); default: now")]
TopLimit = Annotated[int, Query(ge=1, le=1000, description="Rows of the top lists")]
InactiveDays = Annotated[int, Query(ge=1, le=3660, description="Idle this many days or more counts as inactive")]

router = APIRouter(prefix="/analytics", tags=["analytics"])

_NO_ORG = "The organization named by `X-Ferry-Org` or `?org=` is not one of the caller's"
_RANGE = "Invalid parameters, or `from` not before `to`, or a range longer than the granularity allows"


@router.get("/me", response_model=MyAnalytics, responses=error_responses(401, 404, 422, _404=_NO_ORG, _422=_RANGE))
async def my_analytics(
    scope: ActiveOrg,
    analytics: Service,
    from_: From = None,
    to: To = None,
    granularity: Granularity = "day",
) -> Any:
    """The caller's own files in the active organization: totals, uploads per period, formats, parse outcomes."""
    window = Window.of(from_, to, granularity, utcnow())
    key = ("me", scope.org_id, scope.user.user_id, from_, to, granularity)
    return await analytics.cached(key, lambda: analytics.repo.me(scope.org_id, scope.user.user_id, window))


@router.get(
    "/org",
    response_model=OrgAnalytics,
    responses=error_responses(
        401, 403, 404, 422, _403="Admins and owners of the organization only", _404=_NO_ORG, _422=_RANGE
    ),
)
async def org_analytics(
    scope: ActiveOrg,
    analytics: Service,
    from_: From = None,
    to: To = None,
    granularity: Granularity = "day",
    limit: TopLimit = 10,
    inactive_days: InactiveDays = 30,
) -> Any:
    """The active organization: storage per member and format, trends, inactive members, slowest formats."""
    if not scope.role.can_manage:
        raise Forbidden("only the organization's admins and owners read its analytics")
    now = utcnow()
    window = Window.of(from_, to, granularity, now)
    key = ("org", scope.org_id, from_, to, granularity, limit, inactive_days)
    return await analytics.cached(key, lambda: analytics.repo.org(scope.org_id, window, limit, inactive_days, now))


@router.get(
    "/platform",
    response_model=PlatformAnalytics,
    responses=error_responses(401, 403, 422, _403="Platform administrators only", _422=_RANGE),
)
async def platform_analytics(
    user: CurrentUser,
    analytics: Service,
    from_: From = None,
    to: To = None,
    granularity: Granularity = "day",
    limit: TopLimit = 10,
    inactive_days: InactiveDays = 30,
) -> Any:
    """Every organization: the organization figures across the platform, plus storage per organization."""
    if not user.is_admin:
        raise Forbidden("platform administrators only")
    now = utcnow()
    window = Window.of(from_, to, granularity, now)
    key = ("platform", from_, to, granularity, limit, inactive_days)
    return await analytics.cached(key, lambda: analytics.repo.platform(window, limit, inactive_days, now))


async def start_analytics(db: AsyncDatabase[Document], settings: IngestSettings) -> Analytics:
    """The pipelines (their indexes ensured) and their cache, for ``app.state.analytics``."""
    repo = AnalyticsRepository(db)
    await repo.ensure_indexes()
    return Analytics(repo, TtlCache(settings.analytics_cache_seconds, settings.analytics_cache_entries))
