"""The processor: one claimed job to its outcome, as stored and as said in its chat."""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import pytest

from bot.domain import retained
from bot.domain.jobs import Failure, JobStatus
from bot.domain.options import TranscriptionOptions
from bot.domain.quota import QuotaPeriod, QuotaPolicy
from bot.domain.transcript import Segment, Transcript
from bot.i18n import texts
from bot.jobs.batching import Batches
from bot.jobs.ports import DownloadFailed, DownloadTooBig, Preview, Progress
from bot.jobs.processor import MAX_ATTEMPTS, Processor
from bot.jobs.quotas import Quotas
from bot.settings import UploadMode
from bot.transcription import audio, early, probing
from bot.transcription import transcriber as transcriber_module
from bot.transcription.mistral import (
    MistralAuthError,
    MistralBadResponse,
    MistralClient,
    MistralRateLimited,
    MistralRejected,
    MistralUnavailable,
)
from bot.transcription.mistral_wire import Deadline
from bot.transcription.slots import Owner, ReadyTurns, Stopping
from bot.transcription.transcriber import Transcriber
from storage import jobs, leases, transcripts, usage
from storage.db import Database
from storage.job_rows import Job, NewJob
from tests import media

PAYER = 42
CHAT = 42
DEFAULT_QUOTA = 600
RETENTION_HOURS = 24
NOW = 1_800_000_000

en = texts.of("en")

HEARD = Transcript(
    segments=(Segment(0.3, 0.9, "hello"), Segment(1.3, 1.9, "world")),
    language="en",
    billed_seconds=4,
)


@pytest.fixture(scope="module")
def voice_note(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A real three-word Opus voice note and its probed length."""
    data, _, _ = media.voice_note(3)
    path = tmp_path_factory.mktemp("media") / "note.ogg"
    path.write_bytes(data)
    return path, probing.probe(path).duration


class Downloader:
    """Stands in for Telegram's file download: copies a file, writes bytes, or raises."""

    def __init__(self, source: Path | bytes | Exception) -> None:
        self.source = source
        self.calls: list[str] = []

    async def download(self, file_id: str, dest: Path) -> Path:
        self.calls.append(file_id)
        if isinstance(self.source, Exception):
            raise self.source
        if isinstance(self.source, bytes):
            await asyncio.to_thread(dest.write_bytes, self.source)
        else:
            await asyncio.to_thread(shutil.copyfile, self.source, dest)
        return dest


class FakeTranscriber:
    """Stands in for Transcriber: answers a Transcript or raises, recording what it was given."""

    def __init__(self, answer: Transcript | Exception = HEARD) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    def upload_early(self, path: Path, declared: float, **hooks: Any) -> None:
        return None  # the usual path: Transcriber's own tests below cover the early upload

    readying = ReadyTurns(1)

    async def transcribe(self, path: Path, workdir: Path, **kw: Any) -> Transcript:
        exists = await asyncio.to_thread(path.exists)
        self.calls.append({"path": path, "exists": exists, **kw})
        if isinstance(self.answer, Exception):
            raise self.answer
        kw["on_progress"](1, 2)
        return self.answer


class Shown:
    """What a job's progress showed."""

    def __init__(self) -> None:
        self.updates: list[tuple[int, int]] = []
        self.settled = 0

    def update(self, done: int, total: int) -> None:
        self.updates.append((done, total))

    async def settle(self) -> None:
        self.settled += 1


@dataclass
class Chat:
    """Stands in for TelegramDelivery: records what the job said."""

    delivered: list[tuple[int, Transcript | None, int | None]] = field(default_factory=list)
    reports: list[tuple[int, str]] = field(default_factory=list)
    forgotten: list[int] = field(default_factory=list)
    shown: Shown = field(default_factory=Shown)

    def progress(self, job: Job) -> Progress:
        return self.shown

    def preview(self, job: Job) -> Preview | None:
        return None

    async def deliver(
        self, job: Job, transcript: Transcript | None, retained_id: int | None
    ) -> None:
        self.delivered.append((job.id, transcript, retained_id))

    async def announce(self, job: Job, text: str) -> None:
        self.reports.append((job.id, text))

    async def report(self, job: Job, reply: str) -> None:
        self.reports.append((job.id, reply))

    def forget(self, job_id: int) -> None:
        self.forgotten.append(job_id)


@dataclass
class Bench:
    db: Database
    quotas: Quotas
    workdir: Path
    voice_note: Path
    probed: float
    chat: Chat = field(default_factory=Chat)

    def processor(
        self,
        downloader: Downloader | None = None,
        transcriber: FakeTranscriber | Transcriber | None = None,
        *,
        max_audio_seconds: int = 3600,
        retention_hours: int = RETENTION_HOURS,
        owner: str | None = None,
        batches: Batches | None = None,
    ) -> Processor:
        return Processor(
            db=self.db,
            quotas=self.quotas,
            downloader=downloader or Downloader(self.voice_note),
            transcriber=cast(Transcriber, transcriber or FakeTranscriber()),
            delivery=self.chat,
            workdir=self.workdir,
            max_audio_seconds=max_audio_seconds,
            retention_hours=retention_hours,
            store_backoff=0.001,
            clock=lambda: NOW,
            owner=owner,
            batches=batches,
        )

    async def claimed_job(self, *, declared: int | None = 4, **changes: Any) -> Job:
        """A voice note accepted with `declared` seconds reserved, claimed by a worker."""
        values: dict[str, Any] = {
            "chat_id": CHAT,
            "message_id": 7,
            "chat_type": "private",
            "thread_id": None,
            "payer_id": PAYER,
            "author_id": PAYER,
            "trigger": "private",
            "kind": "voice",
            "file_id": "voice-file",
            "file_size": 12_345,
            "file_name": None,
            "declared_seconds": declared,
            "header": None,
            "language": None,
            "user_language": "en",
            "period": self.quotas.policy.key(),
        }
        values.update(changes)
        acceptance = await self.quotas.accept(NewJob(**values), declared or 0)
        assert acceptance.job_id is not None
        job = await jobs.claim_next(self.db, per_chat=1)
        assert job is not None and job.id == acceptance.job_id
        return job

    async def row(self, job: Job) -> Job:
        stored = await jobs.get(self.db, job.id)
        assert stored is not None
        return stored

    async def used_and_reserved(self) -> tuple[int, int]:
        row = await usage.get_usage(self.db, PAYER, self.quotas.policy.key())
        return row.used_seconds, row.reserved_seconds


@pytest.fixture
def bench(db: Database, tmp_path: Path, voice_note: tuple[Path, float]) -> Bench:
    policy = QuotaPolicy(DEFAULT_QUOTA, QuotaPeriod.MONTH, frozenset())
    path, probed = voice_note
    return Bench(db, Quotas(db, policy), tmp_path / "work", path, probed)


# Delivered


async def test_a_transcript_is_retained_charged_and_delivered_with_its_id(bench: Bench) -> None:
    job = await bench.claimed_job(declared=4)
    transcriber = FakeTranscriber(HEARD)
    released: list[bool] = []

    await bench.processor(transcriber=transcriber)(job, lambda: released.append(True))

    [(job_id, transcript, kept_id)] = bench.chat.delivered
    assert (job_id, transcript) == (job.id, HEARD)
    assert kept_id is not None
    kept = await transcripts.get(bench.db, kept_id, now=NOW)
    assert kept is not None and kept.chat_id == CHAT
    assert retained.decode(kept.body)[0].segments == HEARD.segments
    row = await bench.row(job)
    assert (row.status, row.billed_seconds, row.error) == (JobStatus.DONE, 4, None)
    assert await bench.used_and_reserved() == (4, 0)
    assert bench.chat.reports == []
    assert bench.chat.forgotten == [job.id]
    assert released == [True]


async def test_the_transcript_is_kept_in_the_transaction_that_charges_it(bench: Bench) -> None:
    job = await bench.claimed_job(declared=4)
    statements: list[str] = []
    bench.db._sqlite_conn().set_trace_callback(statements.append)

    await bench.processor(transcriber=FakeTranscriber(HEARD))(job)

    bench.db._sqlite_conn().set_trace_callback(None)
    kept = next(n for n, sql in enumerate(statements) if "INSERT INTO transcripts" in sql)
    charged = next(n for n, sql in enumerate(statements) if "SET billed_seconds" in sql)
    between = statements[min(kept, charged) : max(kept, charged)]
    assert not any(sql.startswith(("BEGIN", "COMMIT")) for sql in between)
    assert bench.chat.delivered[0][2] is not None


async def test_a_transcript_that_cannot_be_kept_is_still_charged_once_and_delivered(
    bench: Bench, caplog: pytest.LogCaptureFixture
) -> None:
    job = await bench.claimed_job(declared=4)
    await bench.db.execute(
        "CREATE TRIGGER full BEFORE INSERT ON transcripts BEGIN SELECT RAISE(ABORT, 'full'); END"
    )

    await bench.processor(transcriber=FakeTranscriber(HEARD))(job)

    # Delivered without its buttons (no kept id), charged what was billed, once.
    assert bench.chat.delivered == [(job.id, HEARD, None)]
    assert (await bench.row(job)).status == JobStatus.DONE
    assert await bench.used_and_reserved() == (4, 0)
    assert f"job={job.id} transcript not retained" in caplog.text


class LockedQuotas(Quotas):
    """Settling meets SQLite's lock held by someone else `times` times, then goes through."""

    def __init__(self, quotas: Quotas, times: int) -> None:
        super().__init__(quotas.db, quotas.policy)
        self.left = times

    async def settle(
        self,
        job_id: int,
        billed: int,
        *,
        owner: str | None = None,
        lease_seconds: int = jobs.LEASE_SECONDS,
        keep: transcripts.NewTranscript | None = None,
    ) -> tuple[bool, int | None]:
        if self.left:
            self.left -= 1
            raise sqlite3.OperationalError("database is locked")
        return await super().settle(
            job_id, billed, owner=owner, lease_seconds=lease_seconds, keep=keep
        )


async def test_a_busy_database_while_settling_is_waited_out_not_left_transcribing(
    bench: Bench,
) -> None:
    job = await bench.claimed_job(declared=4)
    bench.quotas = LockedQuotas(bench.quotas, times=3)

    await bench.processor(transcriber=FakeTranscriber(HEARD))(job)

    [(_, transcript, _)] = bench.chat.delivered
    assert transcript == HEARD
    assert (await bench.row(job)).status == JobStatus.DONE
    assert await bench.used_and_reserved() == (4, 0)
    assert bench.chat.reports == []


async def test_the_transcriber_gets_the_real_audio_its_length_and_the_options(
    bench: Bench,
) -> None:
    job = await bench.claimed_job(language="de", speakers=True, vocabulary="Voxtral Jean_Dupont")
    transcriber = FakeTranscriber()

    await bench.processor(transcriber=transcriber)(job)

    [call] = transcriber.calls
    assert call["exists"]
    assert call["duration"] == pytest.approx(bench.probed)
    # The options read at admission, back from the job's row.
    assert call["options"] == TranscriptionOptions("de", True, ("Voxtral", "Jean_Dupont"))
    assert call["chat"] == CHAT
    assert bench.chat.shown.updates == [(1, 2)]
    assert bench.chat.shown.settled == 1
    # The job's files are gone once it ends.
    assert list(bench.workdir.iterdir()) == []


async def test_charged_what_mistral_billed_not_what_was_reserved(bench: Bench) -> None:
    job = await bench.claimed_job(declared=60)

    await bench.processor(transcriber=FakeTranscriber(HEARD))(job)

    assert (await bench.row(job)).billed_seconds == 4
    assert await bench.used_and_reserved() == (4, 0)


async def test_without_billed_seconds_the_probed_length_is_charged(bench: Bench) -> None:
    unbilled = Transcript(segments=HEARD.segments, billed_seconds=0)
    job = await bench.claimed_job(declared=1)

    await bench.processor(transcriber=FakeTranscriber(unbilled))(job)

    charged = math.ceil(bench.probed)
    assert (await bench.row(job)).billed_seconds == charged
    assert await bench.used_and_reserved() == (charged, 0)


async def test_no_speech_is_delivered_as_such_and_charged_nothing(bench: Bench) -> None:
    silence = Transcript(segments=(Segment(0.0, 3.0, " … "),), billed_seconds=4)
    job = await bench.claimed_job(declared=4)

    await bench.processor(transcriber=FakeTranscriber(silence))(job)

    assert bench.chat.delivered == [(job.id, None, None)]
    row = await bench.row(job)
    assert (row.status, row.billed_seconds) == (JobStatus.DONE, 0)
    assert await bench.used_and_reserved() == (0, 0)
    assert await bench.db.fetchall("SELECT * FROM transcripts") == []


async def test_with_retention_0_nothing_is_kept_and_no_id_is_given(bench: Bench) -> None:
    job = await bench.claimed_job()

    await bench.processor(retention_hours=0)(job)

    assert bench.chat.delivered == [(job.id, HEARD, None)]
    assert await bench.db.fetchall("SELECT * FROM transcripts") == []
    assert await bench.used_and_reserved() == (4, 0)


async def test_a_retained_transcript_expires_after_the_retention(bench: Bench) -> None:
    job = await bench.claimed_job()

    await bench.processor(retention_hours=2)(job)

    [(_, _, kept_id)] = bench.chat.delivered
    assert kept_id is not None
    assert await transcripts.get(bench.db, kept_id, now=NOW + 2 * 3600 - 1) is not None
    assert await transcripts.get(bench.db, kept_id, now=NOW + 2 * 3600) is None


# Failed: each with its code, its words, and nothing held or charged


FAILURES = [
    pytest.param(
        lambda: MistralUnavailable("503"),
        Failure.MISTRAL_UNAVAILABLE,
        en(texts.SERVICE_BUSY),
        id="mistral unavailable",
    ),
    pytest.param(
        lambda: MistralRateLimited("429", 5.0),
        Failure.MISTRAL_UNAVAILABLE,
        en(texts.SERVICE_BUSY),
        id="mistral rate limited",
    ),
    pytest.param(
        lambda: MistralBadResponse("not json"),
        Failure.MISTRAL_UNAVAILABLE,
        en(texts.SERVICE_BUSY),
        id="mistral garbled",
    ),
    pytest.param(
        lambda: MistralAuthError("401", 401),
        Failure.MISTRAL_AUTH,
        en(texts.FAILED),
        id="mistral key refused",
    ),
    pytest.param(
        lambda: MistralRejected("400", 400),
        Failure.MISTRAL_REJECTED,
        en(texts.SERVICE_REFUSED),
        id="mistral rejected",
    ),
    pytest.param(
        lambda: audio.AudioError("no audio"),
        Failure.UNREADABLE,
        en(texts.UNREADABLE),
        id="audio cut failed",
    ),
    pytest.param(lambda: RuntimeError("boom"), Failure.CRASHED, en(texts.FAILED), id="a bug"),
]


async def assert_failed(bench: Bench, job: Job, code: Failure, reply: str) -> None:
    """The job is failed with `code`, the payer told `reply`, nothing held or charged."""
    row = await bench.row(job)
    assert (row.status, row.error, row.billed_seconds) == (JobStatus.FAILED, code, None)
    assert bench.chat.reports == [(job.id, reply)]
    assert bench.chat.delivered == []
    assert await bench.used_and_reserved() == (0, 0)
    assert bench.chat.forgotten == [job.id]
    assert await bench.db.fetchall("SELECT * FROM transcripts") == []


@pytest.mark.parametrize(("error", "code", "reply"), FAILURES)
async def test_a_transcription_error_fails_the_job_with_its_answer(
    bench: Bench, error: Callable[[], Exception], code: Failure, reply: str
) -> None:
    job = await bench.claimed_job(declared=4)
    released: list[bool] = []

    await bench.processor(transcriber=FakeTranscriber(error()))(job, lambda: released.append(True))

    await assert_failed(bench, job, code, reply)
    assert released == [True]
    assert list(bench.workdir.iterdir()) == []


async def test_a_file_telegram_will_not_hand_over_is_too_big_with_its_size(bench: Bench) -> None:
    job = await bench.claimed_job(file_size=30 * 1_048_576)
    transcriber = FakeTranscriber()

    await bench.processor(Downloader(DownloadTooBig()), transcriber)(job)

    await assert_failed(bench, job, Failure.TOO_BIG, en.too_big(30 * 1_048_576))
    assert "30.0 MB" in bench.chat.reports[0][1]
    assert transcriber.calls == []


async def test_a_too_big_file_of_undeclared_size_is_not_said_to_be_0_mb(bench: Bench) -> None:
    job = await bench.claimed_job(file_size=None)

    await bench.processor(Downloader(DownloadTooBig()))(job)

    [(_, reply)] = bench.chat.reports
    assert (await bench.row(job)).error == Failure.TOO_BIG
    assert "0.0 MB" not in reply


async def test_a_failed_download_asks_to_send_the_note_again(bench: Bench) -> None:
    job = await bench.claimed_job()
    transcriber = FakeTranscriber()

    await bench.processor(Downloader(DownloadFailed()), transcriber)(job)

    await assert_failed(bench, job, Failure.DOWNLOAD_FAILED, en(texts.DOWNLOAD_FAILED))
    assert transcriber.calls == []


async def test_a_file_without_audio_is_unreadable(bench: Bench) -> None:
    job = await bench.claimed_job()
    transcriber = FakeTranscriber()

    await bench.processor(Downloader(b"%PDF-1.4 " + bytes(4000)), transcriber)(job)

    await assert_failed(bench, job, Failure.UNREADABLE, en(texts.UNREADABLE))
    assert transcriber.calls == []


async def test_audio_longer_than_allowed_once_probed_is_too_long(bench: Bench) -> None:
    job = await bench.claimed_job(declared=1)
    transcriber = FakeTranscriber()

    await bench.processor(transcriber=transcriber, max_audio_seconds=2)(job)

    await assert_failed(bench, job, Failure.TOO_LONG, en.too_long(bench.probed, 2))
    assert transcriber.calls == []


async def test_audio_longer_than_the_quota_once_probed_is_over_quota(bench: Bench) -> None:
    await usage.set_quota(bench.db, PAYER, 2, by=0)
    job = await bench.claimed_job(declared=None)
    transcriber = FakeTranscriber()

    await bench.processor(transcriber=transcriber)(job)

    policy = bench.quotas.policy
    reply = en.over_quota(bench.probed, 2, "month", policy.resets_at())
    await assert_failed(bench, job, Failure.OVER_QUOTA, reply)
    assert transcriber.calls == []


async def test_the_reply_is_in_the_payers_language(bench: Bench) -> None:
    job = await bench.claimed_job(user_language="de")

    await bench.processor(Downloader(DownloadFailed()))(job)

    [(_, reply)] = bench.chat.reports
    assert reply == texts.of("de")(texts.DOWNLOAD_FAILED)
    assert reply != en(texts.DOWNLOAD_FAILED)


async def test_a_job_that_ended_the_process_too_often_is_given_up(bench: Bench) -> None:
    job = await bench.claimed_job()
    for _ in range(MAX_ATTEMPTS):
        await jobs.requeue_unfinished(bench.db)
        again = await jobs.claim_next(bench.db, per_chat=1)
        assert again is not None
        job = again
    assert job.attempts == MAX_ATTEMPTS + 1
    downloader, transcriber = Downloader(bench.voice_note), FakeTranscriber()

    await bench.processor(downloader, transcriber)(job)

    await assert_failed(bench, job, Failure.GAVE_UP, en(texts.FAILED))
    assert downloader.calls == []
    assert transcriber.calls == []


async def test_the_last_allowed_attempt_still_runs(bench: Bench) -> None:
    job = await bench.claimed_job()
    for _ in range(MAX_ATTEMPTS - 1):
        await jobs.requeue_unfinished(bench.db)
        again = await jobs.claim_next(bench.db, per_chat=1)
        assert again is not None
        job = again
    assert job.attempts == MAX_ATTEMPTS

    await bench.processor()(job)

    assert (await bench.row(job)).status == JobStatus.DONE
    assert len(bench.chat.delivered) == 1


async def test_stopping_before_mistral_requeues_without_counting_an_attempt(bench: Bench) -> None:
    job = await bench.claimed_job(declared=4)

    await bench.processor(transcriber=FakeTranscriber(Stopping()))(job)

    row = await bench.row(job)
    assert (row.status, row.attempts, row.error) == (JobStatus.QUEUED, 0, None)
    assert bench.chat.reports == []
    assert bench.chat.delivered == []
    assert await bench.used_and_reserved() == (0, 4)


# Resumed after a restart


async def settled_then_interrupted(bench: Bench, job: Job, transcript: Transcript) -> Job:
    """The job as the next start claims it: retained and settled, then the process ended."""
    kept = transcripts.NewTranscript(
        job_id=job.id,
        user_id=PAYER,
        author_id=PAYER,
        chat_id=CHAT,
        body=retained.encode(transcript, None),
        created_at=NOW,
        expires_at=NOW + 3600,
    )
    settled, _ = await jobs.settle_keeping(bench.db, job.id, transcript.billed_seconds, kept)
    assert settled
    await jobs.requeue_unfinished(bench.db)
    resumed = await jobs.claim_next(bench.db, per_chat=1)
    assert resumed is not None and resumed.id == job.id
    return resumed


async def test_a_settled_job_resends_its_retained_transcript_without_mistral(
    bench: Bench,
) -> None:
    job = await bench.claimed_job(declared=4)
    resumed = await settled_then_interrupted(bench, job, HEARD)
    [(kept_id,)] = await bench.db.fetchall("SELECT id FROM transcripts")
    downloader, transcriber = Downloader(bench.voice_note), FakeTranscriber()

    await bench.processor(downloader, transcriber)(resumed)

    assert transcriber.calls == []
    assert downloader.calls == []
    [(job_id, transcript, retained_id)] = bench.chat.delivered
    assert job_id == job.id and retained_id == kept_id
    assert transcript is not None and transcript.segments == HEARD.segments
    row = await bench.row(job)
    assert (row.status, row.billed_seconds) == (JobStatus.DONE, 4)
    # Charged once, before the restart.
    assert await bench.used_and_reserved() == (4, 0)


async def test_a_settled_job_without_its_transcript_is_transcribed_again_unbilled(
    bench: Bench,
) -> None:
    job = await bench.claimed_job(declared=4)
    resumed = await settled_then_interrupted(bench, job, HEARD)
    await transcripts.purge(bench.db, now=NOW + 3600)
    transcriber = FakeTranscriber(HEARD)

    await bench.processor(transcriber=transcriber)(resumed)

    assert len(transcriber.calls) == 1
    assert [t for _, t, _ in bench.chat.delivered] == [HEARD]
    assert await bench.used_and_reserved() == (4, 0)


async def test_a_charged_job_past_its_attempts_is_not_told_nothing_was_charged(
    bench: Bench,
) -> None:
    job = await bench.claimed_job(declared=4)
    job = await settled_then_interrupted(bench, job, HEARD)
    for _ in range(MAX_ATTEMPTS - 1):
        await jobs.requeue_unfinished(bench.db)
        again = await jobs.claim_next(bench.db, per_chat=1)
        assert again is not None
        job = again
    assert job.attempts == MAX_ATTEMPTS + 1

    await bench.processor()(job)

    assert await bench.used_and_reserved() == (4, 0)
    assert all("Nothing was charged" not in reply for _, reply in bench.chat.reports)
    assert [t is not None for _, t, _ in bench.chat.delivered] == [True]


async def test_a_job_whose_lease_another_replica_took_sends_and_charges_nothing(
    bench: Bench,
) -> None:
    await bench.claimed_job(declared=4)
    # The first claim was anonymous: lease it to replica A, then let it lapse to replica B.
    await bench.db.execute("UPDATE jobs SET lease_owner = 'a', lease_until = 0")
    taken = await jobs.claim_next(bench.db, per_chat=1, owner="b")
    assert taken is not None
    held_by_a = replace(taken, lease_owner="a")
    transcriber = FakeTranscriber()

    await bench.processor(transcriber=transcriber, owner="a")(held_by_a)

    assert transcriber.calls  # A did the work before it found out
    assert bench.chat.delivered == [] and bench.chat.reports == []
    row = await bench.row(taken)
    assert (row.status, row.lease_owner, row.billed_seconds) == (JobStatus.RUNNING, "b", None)
    assert await bench.used_and_reserved() == (0, 4)  # B's to settle


async def test_settling_renews_the_lease_and_delivery_asks_for_it_no_more(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bench.claimed_job(declared=4)
    await bench.db.execute("UPDATE jobs SET lease_owner = 'a', lease_until = 0")
    taken = await jobs.claim_next(bench.db, per_chat=1, owner="a")
    assert taken is not None
    renewals: list[int] = []

    async def renew(db: Database, job_id: int, **lease: Any) -> bool:
        renewals.append(job_id)
        return True

    monkeypatch.setattr(leases, "renew", renew)

    await bench.processor(owner="a")(taken)

    assert [t is not None for _, t, _ in bench.chat.delivered] == [True]
    assert renewals == []
    row = await bench.row(taken)
    assert row.status == JobStatus.DONE
    assert (await bench.used_and_reserved())[1] == 0


# Uploaded while probed: the upload of a short note runs beside its probe and re-check


class Mistral:
    """Stands in for MistralClient under a real Transcriber; records what it was asked, in
    order, in `events` (which the probe and the quota re-check below write to as well)."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.uploads: list[str] = []
        self.deleted: list[str] = []
        self.transcribed: list[str] = []
        """The file id each transcription read (from its signed URL)."""
        self.uploading = threading.Event()
        """Set as an upload starts (the probe runs in a thread)."""
        self.asked = asyncio.Event()
        """Set as a transcription is asked for."""
        self.gate: asyncio.Event | None = None
        """Uploads wait for it when set."""
        self.failing_uploads = 0
        self.hang = False
        self.signed: list[tuple[str, int]] = []
        """(file id, expiry in hours) of each signed URL asked for."""

    async def upload(self, path: Path) -> str:
        self.events.append("upload")
        self.uploading.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
        except asyncio.CancelledError:
            self.events.append("upload cancelled")
            raise
        if self.failing_uploads:
            self.failing_uploads -= 1
            raise MistralUnavailable("upload: 503")
        file_id = f"file-{len(self.uploads) + 1}"
        self.uploads.append(file_id)
        return file_id

    async def signed_url(self, file_id: str, expiry_hours: int = 1) -> str:
        self.signed.append((file_id, expiry_hours))
        return f"https://mistral.test/signed/{file_id}"

    async def transcribe(self, *, file_url: str | None = None, **options: Any) -> Transcript:
        self.events.append("transcribe")
        self.transcribed.append(file_url.rsplit("/", 1)[-1] if file_url else "(the file itself)")
        self.asked.set()
        if self.hang:
            await asyncio.Event().wait()
        return HEARD

    async def delete(self, file_id: str, *, attempts: int | None = None) -> None:
        self.deleted.append(file_id)


class RecordingQuotas(Quotas):
    """Quotas that note each re-check in `events`."""

    def __init__(self, quotas: Quotas, events: list[str]) -> None:
        super().__init__(quotas.db, quotas.policy)
        self.events = events

    async def recheck(self, job: Job, seconds: float, t: texts.Texts) -> None:
        await super().recheck(job, seconds, t)
        self.events.append("rechecked")


@dataclass
class Seen:
    """A fake Mistral behind a real Transcriber, and what happened to a job, in order."""

    events: list[str]
    mistral: Mistral
    transcriber: Transcriber


@pytest.fixture
def seen(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> Seen:
    events: list[str] = []
    mistral = Mistral(events)
    bench.quotas = RecordingQuotas(bench.quotas, events)
    real_probe = probing.probe

    def probe(path: Path) -> audio.AudioInfo:
        try:
            return real_probe(path)
        finally:
            events.append("probed")

    monkeypatch.setattr(probing, "probe", probe)
    return Seen(events, mistral, transcriber_of(mistral))


def transcriber_of(mistral: Mistral, **settings: Any) -> Transcriber:
    return Transcriber(
        cast(MistralClient, mistral),
        mode=settings.pop("mode", UploadMode.FILES),
        limit=2,
        **settings,
    )


async def recorded_uploads(bench: Bench) -> list[str]:
    return [row[0] for row in await bench.db.fetchall("SELECT file_id FROM mistral_files")]


async def test_a_short_note_uploads_while_it_is_probed_and_is_read_from_that_upload(
    bench: Bench, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = probing.probe

    def probe_once_uploading(path: Path) -> audio.AudioInfo:
        # Code that uploads only once the probe is over never gets past this wait.
        assert seen.mistral.uploading.wait(timeout=10), "nothing uploaded during the probe"
        return probe(path)

    monkeypatch.setattr(probing, "probe", probe_once_uploading)
    job = await bench.claimed_job(declared=4)

    await bench.processor(transcriber=seen.transcriber)(job)

    # The upload went first; the transcription only once probed and re-checked.
    assert seen.events == ["upload", "probed", "rechecked", "transcribe"]
    assert seen.mistral.uploads == seen.mistral.transcribed == ["file-1"]
    assert bench.chat.delivered[0][1] == HEARD
    assert await bench.used_and_reserved() == (4, 0)
    await seen.transcriber.drain(5)
    assert seen.mistral.deleted == ["file-1"]
    assert await recorded_uploads(bench) == []


async def test_a_note_has_its_signed_url_before_it_has_a_slot(
    bench: Bench, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    transcriber = transcriber_of(seen.mistral)
    job = await bench.claimed_job(declared=4)
    asking = asyncio.Event()
    hold = transcriber.slots.hold

    def asked_for(owner: Owner) -> contextlib.AbstractAsyncContextManager[None]:
        asking.set()
        return hold(owner)

    async with contextlib.AsyncExitStack() as others:
        for n in range(transcriber.slots.limit):
            await others.enter_async_context(hold(("others", n)))
        monkeypatch.setattr(transcriber.slots, "hold", asked_for)
        task = asyncio.ensure_future(bench.processor(transcriber=transcriber)(job))
        await asyncio.wait_for(asking.wait(), 10)

        # Waiting for a slot, the note has its URL: the slot goes straight to the request.
        assert seen.mistral.signed == [("file-1", 2)]
        assert seen.mistral.transcribed == []
    await asyncio.wait_for(task, 10)

    assert seen.mistral.signed == [("file-1", 2)]
    assert seen.mistral.transcribed == ["file-1"]
    assert bench.chat.delivered[0][1] == HEARD


async def test_a_signed_url_outlives_the_notes_deadline(bench: Bench, seen: Seen) -> None:
    # A deadline of 4 h: the URL taken before the wait for a slot is valid for an hour more.
    transcriber = transcriber_of(seen.mistral, deadline=Deadline(minimum=4 * 3600))
    job = await bench.claimed_job(declared=4)

    await bench.processor(transcriber=transcriber)(job)

    assert seen.mistral.signed == [("file-1", 5)]
    assert seen.mistral.transcribed == ["file-1"]


async def test_an_early_upload_is_recorded_until_it_is_deleted(bench: Bench, seen: Seen) -> None:
    """A crash before the delete leaves its id for the next start (housekeeping)."""
    job = await bench.claimed_job(declared=4)
    seen.mistral.hang = True
    task = asyncio.ensure_future(bench.processor(transcriber=seen.transcriber)(job))
    await asyncio.wait_for(seen.mistral.asked.wait(), 10)

    assert await recorded_uploads(bench) == ["file-1"]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_audio_the_probe_finds_too_long_is_refused_and_its_early_upload_deleted(
    bench: Bench, seen: Seen
) -> None:
    job = await bench.claimed_job(declared=1)
    seen.mistral.gate = asyncio.Event()  # the refusal comes while the upload is under way

    await bench.processor(transcriber=seen.transcriber, max_audio_seconds=2)(job)

    await assert_failed(bench, job, Failure.TOO_LONG, en.too_long(bench.probed, 2))
    assert seen.mistral.uploads == []
    seen.mistral.gate.set()
    await seen.transcriber.drain(5)
    assert seen.mistral.uploads == seen.mistral.deleted == ["file-1"]
    assert seen.mistral.transcribed == []
    assert await recorded_uploads(bench) == []


async def test_audio_over_quota_once_probed_has_its_early_upload_deleted(
    bench: Bench, seen: Seen
) -> None:
    await usage.set_quota(bench.db, PAYER, 2, by=0)
    job = await bench.claimed_job(declared=1)

    await bench.processor(transcriber=seen.transcriber)(job)

    assert (await bench.row(job)).error == Failure.OVER_QUOTA
    await seen.transcriber.drain(5)
    assert seen.mistral.uploads == seen.mistral.deleted == ["file-1"]
    assert seen.mistral.transcribed == []
    assert await bench.used_and_reserved() == (0, 0)
    assert await recorded_uploads(bench) == []


async def test_an_unreadable_file_has_its_early_upload_deleted(bench: Bench, seen: Seen) -> None:
    job = await bench.claimed_job(declared=4)

    await bench.processor(Downloader(b"%PDF-1.4 " + bytes(4000)), seen.transcriber)(job)

    await assert_failed(bench, job, Failure.UNREADABLE, en(texts.UNREADABLE))
    await seen.transcriber.drain(5)
    assert seen.mistral.uploads == seen.mistral.deleted == ["file-1"]
    assert seen.mistral.transcribed == []


async def test_audio_that_must_be_remuxed_is_sent_from_its_own_upload(
    bench: Bench, seen: Seen
) -> None:
    """Raw ADTS AAC is copied into M4A before it goes: the early upload of the file as it
    came is not what Mistral reads, and is deleted."""
    words, total = media.script(3)
    adts = media.encode(media.speech(words, total), "aac")
    job = await bench.claimed_job(declared=4, kind="audio")

    await bench.processor(Downloader(adts), seen.transcriber)(job)

    assert seen.mistral.uploads == ["file-1", "file-2"]
    assert seen.mistral.transcribed == ["file-2"]
    await seen.transcriber.drain(5)
    assert sorted(seen.mistral.deleted) == ["file-1", "file-2"]
    assert await recorded_uploads(bench) == []


async def test_a_failed_early_upload_falls_back_to_the_usual_one(bench: Bench, seen: Seen) -> None:
    seen.mistral.failing_uploads = 1
    job = await bench.claimed_job(declared=4)

    await bench.processor(transcriber=seen.transcriber)(job)

    assert seen.events.count("upload") == 2
    assert seen.mistral.uploads == seen.mistral.transcribed == ["file-1"]
    assert bench.chat.delivered[0][1] == HEARD
    await seen.transcriber.drain(5)
    assert seen.mistral.deleted == ["file-1"]


async def test_a_stop_past_its_grace_deletes_the_early_upload_at_once(
    bench: Bench, seen: Seen
) -> None:
    job = await bench.claimed_job(declared=4)
    seen.mistral.hang = True
    task = asyncio.ensure_future(bench.processor(transcriber=seen.transcriber)(job))
    await asyncio.wait_for(seen.mistral.asked.wait(), 10)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # Deleted before the job ended, not left to a background task.
    assert seen.mistral.deleted == ["file-1"]
    assert await recorded_uploads(bench) == []


async def test_a_stop_past_its_grace_cancels_an_early_upload_that_hangs(
    bench: Bench, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(early, "CANCELLED_DELETE_SECONDS", 0.01)
    job = await bench.claimed_job(declared=4)
    seen.mistral.gate = asyncio.Event()  # never opened
    task = asyncio.ensure_future(bench.processor(transcriber=seen.transcriber)(job))
    await asyncio.to_thread(seen.mistral.uploading.wait, 10)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # The job left nothing running: its upload was cancelled with it.
    assert seen.events[-1] == "upload cancelled"
    assert seen.mistral.uploads == seen.mistral.transcribed == []


class Batching:
    """Stands in for Batches: every note applies, and its submission fails."""

    def applies(self, duration: float) -> bool:
        return True

    async def submit(self, job: Job, *args: Any, **kw: Any) -> None:
        raise MistralUnavailable("batch: 503")


@pytest.mark.parametrize(
    ("declared", "kind", "settings", "batched"),
    [
        pytest.param(None, "voice", {}, False, id="length not declared"),
        pytest.param(
            500, "voice", {"chunk_seconds": 400}, False, id="declared longer than a chunk"
        ),
        pytest.param(4, "video_note", {}, False, id="a video note (its audio track is sent)"),
        pytest.param(4, "voice", {}, True, id="batched"),
    ],
)
async def test_otherwise_the_upload_waits_for_the_probe(
    bench: Bench,
    seen: Seen,
    declared: int | None,
    kind: str,
    settings: dict[str, Any],
    batched: bool,
) -> None:
    transcriber = transcriber_of(seen.mistral, **settings)
    batches = cast(Batches, Batching()) if batched else None
    job = await bench.claimed_job(declared=declared, kind=kind)

    await bench.processor(transcriber=transcriber, batches=batches)(job)

    uploaded = ["upload", "transcribe"] if not batched else []
    assert seen.events == ["probed", "rechecked", *uploaded]


async def test_a_file_bigger_than_its_declared_length_could_hold_waits_for_the_probe(
    bench: Bench, seen: Seen, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender declaring a few seconds on a file of many megabytes: not sent to Mistral before
    the probe (the bound scaled down here to the test's small note)."""
    monkeypatch.setattr(transcriber_module, "EARLY_BYTES_BASE", 0)
    monkeypatch.setattr(transcriber_module, "EARLY_BYTES_PER_SECOND", 10)
    job = await bench.claimed_job(declared=4)

    await bench.processor(transcriber=seen.transcriber)(job)

    assert seen.events == ["probed", "rechecked", "upload", "transcribe"]


async def test_direct_mode_uploads_nothing(bench: Bench, seen: Seen) -> None:
    transcriber = transcriber_of(seen.mistral, mode=UploadMode.DIRECT)
    job = await bench.claimed_job(declared=4)

    await bench.processor(transcriber=transcriber)(job)

    assert seen.events == ["probed", "rechecked", "transcribe"]
    assert seen.mistral.transcribed == ["(the file itself)"]
