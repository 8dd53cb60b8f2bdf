"""Delivering a made transcript as its own step: Telegram's flood control is waited out and
passing trouble retried until the transcript is out, refused for good, or the bound runs out.

Waiting here holds no worker and no Mistral slot (the job has let both go before it delivers)
and never the update dispatcher (jobs run in their own tasks).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from bot.domain.transcript import Transcript
from bot.jobs.ports import Delivery, DeliveryDeferred, DeliveryRefused
from storage.job_rows import Job

log = logging.getLogger(__name__)

DELIVERY_BOUND = 3600.0
"""Seconds one transcript is tried for at most, waits included, from its first attempt in this
process: an hour outlasts Telegram's flood control and the outages it has had; past it the
job is failed `undelivered`. A restart in between starts the count again."""


@dataclass(frozen=True)
class DeliveryRetry:
    """How long and how often a transcript is tried again (Tuning.delivery_retry)."""

    bound: float = DELIVERY_BOUND
    initial: float = 1.0
    """Seconds before the first retry after a 5xx, a timeout or a dropped connection; doubled
    after each further one, with jitter so that jobs hit together do not retry together."""
    max_wait: float = 60.0
    """Longest wait between two tries that Telegram did not time itself."""

    def backoff(self, failures: int) -> float:
        """The wait after `failures` passing failures in a row: exponential, capped, jittered
        over its upper half."""
        ceiling = min(self.max_wait, self.initial * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)


class Delivered(Enum):
    """How a job's delivery ended."""

    SENT = "sent"
    """The whole transcript is in the chat."""
    GONE = "gone"
    """Nobody to send it to: the bot was blocked or removed, or the chat is gone."""
    REFUSED = "refused"
    """Telegram refused what was sent: retrying the same would not help."""
    TIMED_OUT = "timed_out"
    """Still not out when the bound ran out."""


async def deliver(
    delivery: Delivery,
    job: Job,
    transcript: Transcript | None,
    retained_id: int | None,
    retry: DeliveryRetry,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Delivered:
    """Send the transcript until it is out, refused for good, or `retry.bound` runs out.

    A 429 is waited out for exactly the seconds Telegram asked, as often as it asks; 5xx,
    timeouts and dropped connections are retried with backoff. The delivery itself remembers
    which parts went out, so a retry sends only the rest.
    """
    deadline = time.monotonic() + retry.bound
    failures = 0
    while True:
        try:
            await delivery.deliver(job, transcript, retained_id)
        except DeliveryRefused as refused:
            if refused.gone:
                log.info("job=%d chat=%d reply forbidden: %s", job.id, job.chat_id, refused)
                return Delivered.GONE
            log.warning("job=%d chat=%d reply refused: %s", job.id, job.chat_id, refused)
            return Delivered.REFUSED
        except DeliveryDeferred as deferred:
            if deferred.retry_after is not None:
                wait = deferred.retry_after
            else:
                failures += 1
                wait = retry.backoff(failures)
            left = deadline - time.monotonic()
            if left <= 0 or (deferred.retry_after is not None and wait > left):
                return Delivered.TIMED_OUT
            wait = min(wait, left)
            log.info(
                "job=%d chat=%d reply deferred (%s): next try in %.1fs",
                job.id,
                job.chat_id,
                deferred,
                wait,
            )
            await sleep(wait)
            continue
        return Delivered.SENT
