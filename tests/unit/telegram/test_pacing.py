"""Pacing: with several replicas alive, each takes its share of the bot's limits."""

from __future__ import annotations

from bot.telegram.application import Pacing


def pacing() -> Pacing:
    return Pacing(overall_max_rate=30, group_max_rate=1, group_time_period=3.0, max_retries=3)


def test_one_replica_adds_nothing_to_ptbs_limits() -> None:
    assert pacing()._shares({"chat_id": -100123}) == []


def test_two_replicas_each_send_half_overall_and_half_per_group() -> None:
    limits = pacing()
    limits.set_share(2)

    overall, group = limits._shares({"chat_id": -100123})

    assert (overall.max_rate, overall.time_period) == (15, 1)
    assert (group.max_rate, group.time_period) == (1, 6.0)
    # A private chat meets only the bot-wide share.
    assert limits._shares({"chat_id": 42}) == [overall]


def test_back_to_one_replica_the_shares_go() -> None:
    limits = pacing()
    limits.set_share(3)
    limits.set_share(1)

    assert limits._shares({"chat_id": -100123}) == []
