"""Quota policy: who is limited, by how much, in which period, and when that period resets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Final

UNLIMITED: Final = -1
"""A user's own quota meaning no limit (as stored and as /setquota … unlimited sets it)."""


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


@dataclass(frozen=True, slots=True)
class QuotaPolicy:
    """The operator's rules: a default per period, bot admins unlimited, own quotas override."""

    default_seconds: int
    period: QuotaPeriod
    admins: frozenset[int]

    def is_unlimited(self, user_id: int) -> bool:
        """Bot admins are never limited, whatever their own quota says."""
        return user_id in self.admins

    def limit(self, user_id: int, own: int | None) -> int | None:
        """Seconds per period for a user with quota `own` (None: the default); None: no limit."""
        if self.is_unlimited(user_id) or own == UNLIMITED:
            return None
        return self.default_seconds if own is None else own

    def key(self, at: datetime | None = None) -> str:
        """The current period's key."""
        return period_key(self.period, at)

    def resets_at(self, at: datetime | None = None) -> datetime | None:
        return resets_at(self.period, at)
