"""Quota periods: which period a moment belongs to and when the next one starts (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum


class QuotaPeriod(StrEnum):
    DAY = "day"
    MONTH = "month"
    TOTAL = "total"


def period_key(period: QuotaPeriod, at: datetime | None = None) -> str:
    """The usage row's period: '2026-11-25' (day), '2026-11' (month) or 'total'."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    if period is QuotaPeriod.DAY:
        return at.strftime("%Y-%m-%d")
    if period is QuotaPeriod.MONTH:
        return at.strftime("%Y-%m")
    return "total"


def resets_at(period: QuotaPeriod, at: datetime | None = None) -> datetime | None:
    """When the current period ends; None for a quota that never resets."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    if period is QuotaPeriod.DAY:
        start = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return start + timedelta(days=1)
    if period is QuotaPeriod.MONTH:
        year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
        return datetime(year, month, 1, tzinfo=UTC)
    return None
