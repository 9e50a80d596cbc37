"""The time window of an analytics request: a UTC range cut into days, weeks (from Monday) or months."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from ferry_ingest.errors import InvalidContent

Granularity = Literal["day", "week", "month"]

DEFAULT_DAYS = 30
MAX_RANGE = {"day": timedelta(days=2 * 366), "week": timedelta(days=10 * 366), "month": timedelta(days=10 * 366)}
"""The longest range per granularity: at most ~732 daily points, ~520 weekly and 120 monthly ones."""


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime; a naive one (as MongoDB returns them) is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def period_start(moment: datetime, granularity: Granularity) -> datetime:
    """The start of the period ``moment`` falls in: midnight UTC, Monday midnight, or the 1st of the month."""
    day = as_utc(moment).replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def next_period(start: datetime, granularity: Granularity) -> datetime:
    if granularity == "day":
        return start + timedelta(days=1)
    if granularity == "week":
        return start + timedelta(days=7)
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in UTC and how it is cut; a period at either edge counts only what lies inside."""

    start: datetime
    end: datetime
    granularity: Granularity

    @classmethod
    def of(cls, start: datetime | None, end: datetime | None, granularity: Granularity, now: datetime) -> Window:
        """The requested window (default: the last 30 days up to now), validated: 422 when it makes no sense."""
        end_utc = as_utc(end) if end is not None else as_utc(now)
        start_utc = as_utc(start) if start is not None else end_utc - timedelta(days=DEFAULT_DAYS)
        if start_utc >= end_utc:
            raise InvalidContent("'from' must be before 'to'")
        if end_utc - start_utc > MAX_RANGE[granularity]:
            raise InvalidContent(
                f"the range may span at most {MAX_RANGE[granularity].days} days at granularity '{granularity}'"
            )
        return cls(start_utc, end_utc, granularity)

    def period_starts(self) -> list[datetime]:
        """Every period the window touches, in order, so that a chart gets zeros rather than gaps."""
        starts = []
        current = period_start(self.start, self.granularity)
        while current < self.end:
            starts.append(current)
            current = next_period(current, self.granularity)
        return starts
