"""Quota policy: whose limit is what, and which period a moment falls in and when it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.domain.quota import UNLIMITED, QuotaPeriod, QuotaPolicy, period_key, resets_at

ADMIN = 1
USER = 2


def policy(period: QuotaPeriod = QuotaPeriod.MONTH, default: int = 600) -> QuotaPolicy:
    return QuotaPolicy(default_seconds=default, period=period, admins=frozenset({ADMIN}))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# Limits: who gets how many seconds per period (None: no limit).


def test_a_user_without_an_own_quota_gets_the_default() -> None:
    assert policy(default=600).limit(USER, None) == 600


def test_an_own_quota_overrides_the_default_either_way() -> None:
    assert policy(default=600).limit(USER, 3600) == 3600
    assert policy(default=600).limit(USER, 60) == 60


def test_an_own_quota_of_zero_allows_nothing_rather_than_the_default() -> None:
    assert policy(default=600).limit(USER, 0) == 0


def test_an_own_unlimited_quota_means_no_limit() -> None:
    assert policy().limit(USER, UNLIMITED) is None
    assert not policy().is_unlimited(USER)


def test_bot_admins_are_unlimited_whatever_their_own_quota_says() -> None:
    p = policy()
    assert p.is_unlimited(ADMIN)
    assert p.limit(ADMIN, None) is None
    assert p.limit(ADMIN, 0) is None
    assert p.limit(ADMIN, 60) is None


def test_a_default_of_zero_allows_nothing_to_ordinary_users_only() -> None:
    p = policy(default=0)
    assert p.limit(USER, None) == 0
    assert p.limit(ADMIN, None) is None


# Period keys: the usage row a moment counts against.


@pytest.mark.parametrize(
    ("period", "moment", "key"),
    [
        (QuotaPeriod.DAY, at(2026, 11, 25, 14, 2), "2026-11-25"),
        (QuotaPeriod.DAY, at(2026, 11, 25, 0, 0), "2026-11-25"),
        (QuotaPeriod.DAY, at(2026, 11, 25, 23, 59, 59, 999999), "2026-11-25"),
        (QuotaPeriod.MONTH, at(2026, 11, 1, 0, 0), "2026-11"),
        (QuotaPeriod.MONTH, at(2026, 11, 30, 23, 59, 59), "2026-11"),
        (QuotaPeriod.MONTH, at(2026, 12, 31, 23, 59, 59), "2026-12"),
        (QuotaPeriod.MONTH, at(2027, 1, 1, 0, 0), "2027-01"),
        (QuotaPeriod.TOTAL, at(2026, 11, 25, 14, 2), "total"),
        (QuotaPeriod.TOTAL, at(1999, 1, 1), "total"),
    ],
)
def test_period_key(period: QuotaPeriod, moment: datetime, key: str) -> None:
    assert period_key(period, moment) == key
    assert policy(period).key(moment) == key


def test_period_keys_are_taken_in_utc_whatever_the_moments_zone() -> None:
    # 23:30 on New Year's Eve in New York is already 04:30 on 1 January in UTC.
    new_york = timezone(timedelta(hours=-5))
    moment = datetime(2026, 12, 31, 23, 30, tzinfo=new_york)
    assert period_key(QuotaPeriod.DAY, moment) == "2027-01-01"
    assert period_key(QuotaPeriod.MONTH, moment) == "2027-01"
    # And 00:30 in Berlin on the 1st is still the last day of the month before in UTC.
    berlin = timezone(timedelta(hours=1))
    assert period_key(QuotaPeriod.MONTH, datetime(2026, 3, 1, 0, 30, tzinfo=berlin)) == "2026-02"


def test_without_a_moment_the_key_is_the_current_period() -> None:
    before = datetime.now(UTC)
    key = policy(QuotaPeriod.DAY).key()
    after = datetime.now(UTC)
    assert key in {before.strftime("%Y-%m-%d"), after.strftime("%Y-%m-%d")}


# Resets: when the period a moment falls in ends.


@pytest.mark.parametrize(
    ("moment", "reset"),
    [
        (at(2026, 11, 25, 14, 2), at(2026, 11, 26)),
        (at(2026, 11, 25, 0, 0), at(2026, 11, 26)),
        (at(2026, 11, 25, 23, 59, 59, 999999), at(2026, 11, 26)),
        (at(2026, 11, 30, 12, 0), at(2026, 12, 1)),
        (at(2026, 12, 31, 23, 59), at(2027, 1, 1)),
        (at(2028, 2, 28, 8, 0), at(2028, 2, 29)),
        (at(2028, 2, 29, 8, 0), at(2028, 3, 1)),
    ],
)
def test_a_day_resets_at_the_next_utc_midnight(moment: datetime, reset: datetime) -> None:
    assert resets_at(QuotaPeriod.DAY, moment) == reset
    assert policy(QuotaPeriod.DAY).resets_at(moment) == reset


@pytest.mark.parametrize(
    ("moment", "reset"),
    [
        (at(2026, 11, 1, 0, 0), at(2026, 12, 1)),
        (at(2026, 11, 30, 23, 59, 59, 999999), at(2026, 12, 1)),
        (at(2026, 1, 31, 12, 0), at(2026, 2, 1)),
        (at(2026, 2, 28, 12, 0), at(2026, 3, 1)),
        (at(2026, 12, 1, 0, 0), at(2027, 1, 1)),
        (at(2026, 12, 31, 23, 59, 59), at(2027, 1, 1)),
    ],
)
def test_a_month_resets_on_the_first_of_the_next_month(moment: datetime, reset: datetime) -> None:
    assert resets_at(QuotaPeriod.MONTH, moment) == reset
    assert policy(QuotaPeriod.MONTH).resets_at(moment) == reset


def test_the_reset_is_in_utc_for_a_moment_given_in_another_zone() -> None:
    tokyo = timezone(timedelta(hours=9))
    # 08:00 on 1 December in Tokyo is 23:00 on 30 November in UTC: November's quota.
    moment = datetime(2026, 12, 1, 8, 0, tzinfo=tokyo)
    assert resets_at(QuotaPeriod.MONTH, moment) == at(2026, 12, 1)
    assert resets_at(QuotaPeriod.DAY, moment) == at(2026, 12, 1)
    assert resets_at(QuotaPeriod.MONTH, moment).tzinfo is UTC


def test_a_total_quota_never_resets() -> None:
    assert resets_at(QuotaPeriod.TOTAL, at(2026, 12, 31, 23, 59)) is None
    assert policy(QuotaPeriod.TOTAL).resets_at() is None


def test_every_reset_is_after_the_moment_and_starts_the_next_period() -> None:
    moment = at(2026, 12, 31, 23, 59, 59)
    for period in (QuotaPeriod.DAY, QuotaPeriod.MONTH):
        reset = resets_at(period, moment)
        assert reset is not None and reset > moment
        assert period_key(period, reset) != period_key(period, moment)
        assert period_key(period, reset - timedelta(microseconds=1)) == period_key(period, moment)
