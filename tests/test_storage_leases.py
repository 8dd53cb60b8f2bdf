"""Job leases: a replica that stops renewing loses its running jobs to the others, and can no
longer settle, finish or fail them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from storage import jobs, leases
from storage.db import Database
from storage.job_rows import Job
from tests.helpers import Db, usage_row
from tests.postgres import both_backends
from tests.test_storage_jobs import NOTE

pytestmark = both_backends

A, B = "replica-a", "replica-b"


@pytest.fixture
async def db(database: Db) -> AsyncIterator[Database]:
    handle = database.open()
    await handle.open()
    try:
        yield handle
    finally:
        await handle.close()


async def running(db: Database, owner: str | None = A) -> Job:
    """A note accepted (10 s reserved) and claimed by `owner`."""
    accepted = await jobs.accept(db, NOTE, reserve=10, default_quota=600, unlimited=False)
    assert accepted.job_id is not None
    job = await jobs.claim_next(db, per_chat=1, owner=owner, lease_seconds=60)
    assert job is not None and job.id == accepted.job_id
    return job


def expire(database: Db) -> None:
    """As if the owner had not renewed for longer than its lease."""
    database.rows("UPDATE jobs SET lease_until = lease_until - 3600")


async def test_a_claim_leases_the_job_to_its_owner(db: Database) -> None:
    job = await running(db)
    assert job.status == "running" and job.lease_owner == A
    assert job.lease_until is not None and job.lease_until >= job.created_at + 59


async def test_a_live_lease_keeps_the_job_from_other_replicas(database: Db, db: Database) -> None:
    await running(db)
    assert await jobs.claim_next(db, per_chat=1, owner=B) is None
    assert await jobs.requeue_unfinished(db) == 0  # another replica's start leaves it alone
    assert database.rows("SELECT status, lease_owner FROM jobs") == [("running", A)]


async def test_an_expired_lease_passes_the_job_to_another_replica(
    database: Db, db: Database
) -> None:
    job = await running(db)
    expire(database)
    taken = await jobs.claim_next(db, per_chat=1, owner=B, lease_seconds=60)
    assert taken is not None and taken.id == job.id
    assert taken.lease_owner == B and taken.attempts == 2  # the lost run counts as an attempt
    # The first owner comes back too late: nothing it does counts.
    assert not await leases.renew(db, job.id, owner=A)
    assert not await jobs.settle(db, job.id, 9, owner=A)
    assert not await jobs.mark_done(db, job.id, owner=A)
    assert not await jobs.fail(db, job.id, "crashed", owner=A)
    await jobs.requeue(db, job.id, owner=A)
    assert database.rows("SELECT status, lease_owner FROM jobs") == [("running", B)]
    assert usage_row(database, NOTE.payer_id) == (0, 10)
    # The new owner finishes it, charged once.
    assert await jobs.settle(db, job.id, 9, owner=B)
    assert await jobs.mark_done(db, job.id, owner=B)
    assert usage_row(database, NOTE.payer_id) == (9, 0)
    assert database.rows("SELECT status, lease_owner, lease_until FROM jobs") == [
        ("done", None, None)
    ]


async def test_renewing_keeps_the_lease(database: Db, db: Database) -> None:
    job = await running(db)
    expire(database)
    assert await leases.renew(db, job.id, owner=A, lease_seconds=60)
    assert await jobs.claim_next(db, per_chat=1, owner=B) is None
    expire(database)
    assert await leases.renew_all(db, owner=A, lease_seconds=60) == 1
    assert await leases.renew_all(db, owner=B, lease_seconds=60) == 0
    assert await jobs.claim_next(db, per_chat=1, owner=B) is None


async def test_a_failing_owner_releases_the_reservation_once(database: Db, db: Database) -> None:
    job = await running(db)
    assert await jobs.fail(db, job.id, "mistral_unavailable", owner=A)
    assert not await jobs.fail(db, job.id, "mistral_unavailable", owner=A)
    assert usage_row(database, NOTE.payer_id) == (0, 0)


async def test_a_graceful_stop_gives_the_job_back_without_its_lease(
    database: Db, db: Database
) -> None:
    job = await running(db)
    await jobs.requeue(db, job.id, owner=A)
    assert database.rows("SELECT status, attempts, lease_owner FROM jobs") == [("queued", 0, None)]
    taken = await jobs.claim_next(db, per_chat=1, owner=B)
    assert taken is not None and taken.id == job.id


async def test_jobs_claimed_without_an_owner_never_expire(database: Db, db: Database) -> None:
    """Today's single process: no lease, and a restart requeues what it left running."""
    job = await running(db, owner=None)
    assert job.lease_owner is None and job.lease_until is None
    assert await jobs.claim_next(db, per_chat=1, owner=B) is None
    assert await jobs.requeue_unfinished(db) == 1
    assert database.rows("SELECT status FROM jobs") == [("queued",)]


async def test_expired_jobs_do_not_count_against_their_chats_limit(
    database: Db, db: Database
) -> None:
    await running(db)
    second = await jobs.accept(
        db, replace(NOTE, message_id=8), reserve=10, default_quota=600, unlimited=False
    )
    assert second.job_id is not None
    assert await jobs.claim_next(db, per_chat=1, owner=B) is None  # the chat's one slot is taken
    expire(database)
    # The dead run no longer holds the slot: the oldest job (the expired one) goes first.
    taken = [await jobs.claim_next(db, per_chat=1, owner=B) for _ in range(2)]
    assert [j.id if j else None for j in taken] == [1, None]


async def test_replicas_alive_are_counted_and_a_silent_one_drops_out(
    database: Db, db: Database
) -> None:
    assert await leases.alive(db, A) == 1
    assert await leases.alive(db, B) == 2
    # B has been silent for longer than REPLICA_SECONDS: it no longer takes a share.
    database.rows("UPDATE replicas SET seen_at = seen_at - 3600 WHERE owner = ?", (B,))
    assert await leases.alive(db, A) == 1
    assert await leases.alive(db, B) == 2
    await leases.gone(db, B)
    assert await leases.alive(db, A) == 1


async def test_settling_renews_the_owners_lease(database: Db, db: Database) -> None:
    job = await running(db)
    expire(database)  # the claim's lease: an hour past
    assert await jobs.settle(db, job.id, 9, owner=A, lease_seconds=600)
    (until,) = database.rows("SELECT lease_until FROM jobs")[0]
    assert until >= job.created_at + 599
    assert await jobs.claim_next(db, per_chat=1, owner=B) is None
