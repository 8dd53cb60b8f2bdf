"""Storage under concurrency, as two replicas see it: two handles (two SQLite connections, or
two PostgreSQL pools) on one database, each call racing the others."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from storage import forget, jobs, usage
from storage.db import MIGRATIONS, Database
from storage.job_rows import Acceptance, Accepted, NewJob
from tests.helpers import Db, usage_row
from tests.postgres import both_backends
from tests.test_storage_jobs import NOTE

pytestmark = both_backends

USER = NOTE.payer_id


@pytest.fixture
async def replicas(database: Db) -> AsyncIterator[tuple[Database, Database]]:
    first, second = database.open(), database.open()
    await first.open()
    await second.open()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def note(n: int, **changes: object) -> NewJob:
    return replace(NOTE, message_id=1000 + n, **changes)  # type: ignore[arg-type]


async def accept(db: Database, job: NewJob, reserve: int = 10, quota: int = 30) -> Acceptance:
    return await jobs.accept(db, job, reserve=reserve, default_quota=quota, unlimited=False)


async def queued(db: Database, count: int) -> list[int]:
    """`count` accepted notes of different chats; their job ids."""
    ids = []
    for n in range(count):
        accepted = await accept(db, note(n, chat_id=-n - 1), reserve=1, quota=10_000)
        assert accepted.job_id is not None
        ids.append(accepted.job_id)
    return ids


async def test_migrations_run_once_when_replicas_start_together(database: Db) -> None:
    handles = [database.open() for _ in range(4)]
    await asyncio.gather(*(h.open() for h in handles))
    for handle in handles:
        await handle.close()
    assert database.rows("SELECT version FROM schema_version") == [(len(MIGRATIONS),)]


async def test_twenty_notes_at_once_of_a_user_whose_quota_fits_three_accept_exactly_three(
    database: Db, replicas: tuple[Database, Database]
) -> None:
    outcomes = await asyncio.gather(
        *(accept(replicas[n % 2], note(n)) for n in range(20))  # 10 s each, quota 30 s
    )
    assert Counter(a.outcome for a in outcomes) == {
        Accepted.CREATED: 3,
        Accepted.OVER_QUOTA: 17,
    }
    assert usage_row(database, USER) == (0, 30)
    assert len(database.rows("SELECT id FROM jobs")) == 3


async def test_one_note_accepted_by_both_replicas_at_once_is_one_job_and_one_reservation(
    database: Db, replicas: tuple[Database, Database]
) -> None:
    outcomes = await asyncio.gather(*(accept(replicas[n % 2], note(0)) for n in range(10)))
    assert Counter(a.outcome for a in outcomes) == {Accepted.CREATED: 1, Accepted.DUPLICATE: 9}
    assert len({a.job_id for a in outcomes}) == 1
    assert usage_row(database, USER) == (0, 10)


async def test_probed_durations_growing_reservations_at_once_never_pass_the_quota(
    database: Db, replicas: tuple[Database, Database]
) -> None:
    ids = [(await accept(replicas[0], note(n), reserve=5)).job_id for n in range(4)]
    grown = await asyncio.gather(
        *(
            jobs.reserve_more(replicas[n % 2], job_id, 10, default_quota=30, unlimited=False)
            for n, job_id in enumerate(ids)
            if job_id is not None
        )
    )
    # 4 × 5 s reserved; each wants 5 s more and 10 s are left: two fit.
    assert sorted(fitted for fitted, _ in grown) == [False, False, True, True]
    assert usage_row(database, USER) == (0, 30)


async def test_both_replicas_claiming_take_every_job_exactly_once(
    replicas: tuple[Database, Database],
) -> None:
    ids = await queued(replicas[0], 30)

    async def worker(db: Database) -> list[int]:
        taken = []
        while (job := await jobs.claim_next(db, per_chat=1)) is not None:
            taken.append(job.id)
        return taken

    claims = await asyncio.gather(*(worker(replicas[n % 2]) for n in range(8)))
    taken = [job_id for worker_claims in claims for job_id in worker_claims]
    assert sorted(taken) == ids


async def test_a_job_settled_by_both_replicas_at_once_is_charged_once(
    database: Db, replicas: tuple[Database, Database]
) -> None:
    (job_id,) = await queued(replicas[0], 1)
    assert await jobs.claim_next(replicas[0], per_chat=1) is not None
    settled = await asyncio.gather(*(jobs.settle(replicas[n % 2], job_id, 7) for n in range(6)))
    assert sorted(settled) == [False] * 5 + [True]
    assert usage_row(database, USER) == (7, 0)


async def test_settle_and_fail_racing_leave_the_usage_consistent(
    database: Db, replicas: tuple[Database, Database]
) -> None:
    ids = await queued(replicas[0], 6)
    for _ in ids:
        assert await jobs.claim_next(replicas[0], per_chat=1) is not None
    results = await asyncio.gather(
        *(jobs.settle(replicas[0], job_id, 2) for job_id in ids),
        *(jobs.fail(replicas[1], job_id, "crashed") for job_id in ids),
    )
    settled, released = results[: len(ids)], results[len(ids) :]
    # Settled first: charged, and failing only marks it; failed first: released, never charged.
    charged = sum(settled)
    assert all(s != r for s, r in zip(settled, released, strict=True))
    assert usage_row(database, USER) == (2 * charged, 0)


async def test_forgetting_while_a_note_is_accepted_leaves_no_orphan(
    database: Db, replicas: tuple[Database, Database]
) -> None:
    period = NOTE.period
    accepted, forgotten = await asyncio.gather(
        accept(replicas[0], note(0)), forget.forget_user(replicas[1], USER, period)
    )
    # Either order is fine (forgotten first, or /forgetme refused while the note is pending),
    # but the job and its reservation exist together.
    assert accepted.outcome is Accepted.CREATED
    assert database.rows("SELECT status FROM jobs") == [("queued",)]
    assert usage_row(database, USER) == (0, 10)
    assert forgotten is None or forgotten.jobs == 0
    standing = await usage.get_usage(replicas[0], USER, period)
    assert standing.reserved_seconds == 10
