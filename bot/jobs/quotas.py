"""Quotas: the policy applied to the atomic reservations in storage."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.domain.jobs import Failure
from bot.domain.quota import QuotaPolicy
from bot.i18n import texts
from bot.jobs.failures import JobFailed
from storage import jobs, usage
from storage.db import Database
from storage.job_rows import Acceptance, Accepted, Job, NewJob
from storage.transcripts import NewTranscript


@dataclass(frozen=True)
class Standing:
    """A user's standing this period, as /usage tells it."""

    used: int
    reserved: int
    limit: int | None
    """Seconds per period; None: unlimited."""
    blocked: bool
    batch: int = 0
    """Of `used`, the seconds transcribed through the batch API (at half the cost)."""


class Quotas:
    """Reserve at acceptance, re-check with the probed length, settle with what Mistral billed.

    Every step is one transaction in storage, so concurrent notes of one user never spend more
    than the limit and a job is settled at most once.
    """

    def __init__(self, db: Database, policy: QuotaPolicy) -> None:
        self.db = db
        self.policy = policy

    async def accept(
        self, job: NewJob, reserve: int, *, max_pending: int | None = None, free: bool = False
    ) -> Acceptance:
        """Write the job with `reserve` seconds held, if they fit. A note of unknown length
        (nothing to reserve) is refused when nothing is left: it is not even downloaded,
        unless it is `free` (its transcript is kept and will be reused)."""
        if reserve == 0 and not free:
            standing = await self.standing(job.payer_id)
            if standing.limit is not None and standing.used + standing.reserved >= standing.limit:
                return Acceptance(Accepted.OVER_QUOTA, left_seconds=0)
        return await jobs.accept(
            self.db,
            job,
            reserve=reserve,
            default_quota=self.policy.default_seconds,
            unlimited=self.policy.is_unlimited(job.payer_id),
            max_pending=max_pending,
        )

    async def recheck(self, job: Job, seconds: float, t: texts.Texts) -> None:
        """Hold the real length instead of the declared one; JobFailed when it does not fit."""
        fitted, left = await jobs.reserve_more(
            self.db,
            job.id,
            math.ceil(seconds),
            default_quota=self.policy.default_seconds,
            unlimited=self.policy.is_unlimited(job.payer_id),
        )
        if not fitted:
            period = self.policy.period
            reply = t.over_quota(seconds, left or 0, period.value, self.policy.resets_at())
            raise JobFailed(Failure.OVER_QUOTA, reply)

    async def settle(
        self,
        job_id: int,
        billed: int,
        *,
        owner: str | None = None,
        lease_seconds: int = jobs.LEASE_SECONDS,
        keep: NewTranscript | None = None,
    ) -> tuple[bool, int | None]:
        """Charge what was billed and drop the reservation, keeping the job's transcript `keep`
        in the same transaction. Whether it settled (not if it was settled already, or, with
        `owner`, its lease is no longer the owner's), and the kept transcript's id. With
        `owner`, the lease is renewed for `lease_seconds`."""
        return await jobs.settle_keeping(
            self.db, job_id, billed, keep, owner=owner, lease_seconds=lease_seconds
        )

    async def standing(self, user_id: int) -> Standing:
        """Used, reserved and the limit this period."""
        row = await usage.get_usage(self.db, user_id, self.policy.key())
        return Standing(
            used=row.used_seconds,
            reserved=row.reserved_seconds,
            limit=self.policy.limit(user_id, row.quota_seconds),
            blocked=row.blocked,
            batch=row.batch_seconds,
        )
