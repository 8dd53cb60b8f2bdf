"""Intake: which notes are queued, which are refused and what the payer is told."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from bot.domain.jobs import JobStatus, Trigger
from bot.domain.notes import Kind, Note, NoteRequest
from bot.domain.quota import QuotaPeriod, QuotaPolicy
from bot.i18n import texts
from bot.jobs.intake import Admission, Intake, Verdict
from bot.jobs.quotas import Quotas
from bot.jobs.runner import JobRunner
from storage import jobs, notices, prefs, usage
from storage.db import Database

ADMIN = 1
PAYER = 42
PRIVATE_CHAT = PAYER
GROUP = -100123
MAX_FILE_SIZE = 20 * 1024 * 1024
MAX_AUDIO_SECONDS = 3600
DEFAULT_QUOTA = 600
MAX_PENDING = 3

en = texts.of("en")


class Runner:
    """Stands in for JobRunner: counts wake-ups, noting each in a shared log."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1
        self.events.append("wake")


class Desk:
    """The intake under test with its runner and the events the two saw, in order."""

    def __init__(self, db: Database, policy: QuotaPolicy) -> None:
        self.db = db
        self.policy = policy
        self.events: list[str] = []
        self.runner = Runner(self.events)
        self.intake = Intake(
            Quotas(db, policy),
            cast(JobRunner, self.runner),
            max_file_size=MAX_FILE_SIZE,
            max_audio_seconds=MAX_AUDIO_SECONDS,
            max_pending=MAX_PENDING,
        )

    async def admit(self, request: NoteRequest) -> Admission:
        return await self.intake.admit(
            request, on_queued=lambda job_id: self.events.append(f"queued {job_id}")
        )

    async def job_rows(self) -> list[Any]:
        return await self.db.fetchall("SELECT * FROM jobs ORDER BY id")

    async def standing(self, user_id: int = PAYER) -> usage.UserUsage:
        return await usage.get_usage(self.db, user_id, self.policy.key())


@pytest.fixture
def desk(db: Database) -> Desk:
    return Desk(db, QuotaPolicy(DEFAULT_QUOTA, QuotaPeriod.MONTH, frozenset({ADMIN})))


def request(
    *,
    message_id: int = 10,
    duration: float | None = 30.0,
    file_size: int | None = 50_000,
    chat_id: int = PRIVATE_CHAT,
    trigger: Trigger = Trigger.PRIVATE,
    payer_id: int = PAYER,
    language: str | None = "en",
    **changes: Any,
) -> NoteRequest:
    """A voice note in a private chat unless told otherwise."""
    req = NoteRequest(
        note=Note(
            kind=Kind.VOICE,
            file_id=f"file-{message_id}",
            file_size=file_size,
            duration=duration,
            file_name=None,
        ),
        chat_id=chat_id,
        chat_type="private" if chat_id > 0 else "supergroup",
        message_id=message_id,
        thread_id=None,
        payer_id=payer_id,
        payer_language=language,
        author_id=payer_id,
        trigger=trigger,
    )
    return dataclasses.replace(req, **changes)


def in_group(trigger: Trigger = Trigger.AUTO, chat_id: int = GROUP, **kw: Any) -> NoteRequest:
    return request(chat_id=chat_id, trigger=trigger, **kw)


# Queued


async def test_a_note_is_queued_with_its_declared_seconds_reserved(desk: Desk) -> None:
    admission = await desk.admit(request(duration=30.4))

    assert admission.verdict is Verdict.QUEUED
    assert admission.reply is None
    [row] = await desk.job_rows()
    assert row["id"] == admission.job_id
    assert row["status"] == JobStatus.QUEUED
    assert (row["chat_id"], row["message_id"], row["payer_id"]) == (PRIVATE_CHAT, 10, PAYER)
    assert (row["kind"], row["file_id"], row["trigger"]) == ("voice", "file-10", "private")
    assert row["declared_seconds"] == 31
    assert row["reserved_seconds"] == 31
    assert row["period"] == desk.policy.key()
    standing = await desk.standing()
    assert (standing.used_seconds, standing.reserved_seconds) == (0, 31)


async def test_on_queued_runs_with_the_job_id_before_a_worker_is_woken(desk: Desk) -> None:
    first = await desk.admit(request(message_id=10))
    second = await desk.admit(request(message_id=11))

    assert desk.events == [
        f"queued {first.job_id}",
        "wake",
        f"queued {second.job_id}",
        "wake",
    ]
    assert first.job_id != second.job_id


async def test_a_queued_note_can_be_claimed_by_a_worker(desk: Desk) -> None:
    admission = await desk.admit(request())

    job = await jobs.claim_next(desk.db, per_chat=1)

    assert job is not None and job.id == admission.job_id
    assert job.file_id == "file-10"


async def test_a_forwarded_note_carries_its_header_in_the_payers_language(desk: Desk) -> None:
    await desk.admit(request(forwarded_from="Alice", language="de"))

    [row] = await desk.job_rows()
    assert row["header"] == texts.of("de").forwarded_from("Alice")
    assert row["header"] != en.forwarded_from("Alice")
    assert row["user_language"] == "de"


async def test_the_pinned_language_is_the_users_in_private_and_the_groups_in_a_group(
    desk: Desk,
) -> None:
    await prefs.set_user_language(desk.db, PAYER, "fr")
    await prefs.set_chat_language(desk.db, GROUP, "de")

    await desk.admit(request(message_id=1))
    await desk.admit(in_group(message_id=2))

    private, group = await desk.job_rows()
    assert private["language"] == "fr"
    assert group["language"] == "de"


async def test_an_admin_is_queued_past_any_quota(desk: Desk) -> None:
    await usage.set_quota(desk.db, ADMIN, 0, by=ADMIN)

    admission = await desk.admit(request(payer_id=ADMIN, duration=3000))

    assert admission.verdict is Verdict.QUEUED


# Ignored and refused before anything is written


async def test_a_blocked_payer_is_ignored_without_a_word(desk: Desk) -> None:
    await usage.set_blocked(desk.db, PAYER, True)

    for req in (request(), in_group(trigger=Trigger.COMMAND, message_id=11)):
        admission = await desk.admit(req)
        assert admission == Admission(Verdict.IGNORED)

    assert await desk.job_rows() == []
    assert desk.events == []


async def test_a_file_too_big_to_download_is_refused_with_its_size(desk: Desk) -> None:
    size = MAX_FILE_SIZE + 1

    admission = await desk.admit(request(file_size=size))

    assert admission.verdict is Verdict.REFUSED
    assert admission.reply == en.too_big(size)
    assert "20.0 MB" in admission.reply
    assert await desk.job_rows() == []
    assert desk.events == []


async def test_a_file_at_the_download_limit_is_queued(desk: Desk) -> None:
    admission = await desk.admit(request(file_size=MAX_FILE_SIZE))

    assert admission.verdict is Verdict.QUEUED


async def test_a_note_declared_too_long_is_refused_with_both_lengths(desk: Desk) -> None:
    admission = await desk.admit(request(duration=MAX_AUDIO_SECONDS + 0.5))

    assert admission.verdict is Verdict.REFUSED
    assert admission.reply == en.too_long(MAX_AUDIO_SECONDS + 0.5, MAX_AUDIO_SECONDS)
    assert await desk.job_rows() == []
    assert (await desk.standing()).reserved_seconds == 0


async def test_a_note_declared_exactly_as_long_as_allowed_is_queued(desk: Desk) -> None:
    await usage.set_quota(desk.db, PAYER, MAX_AUDIO_SECONDS, by=ADMIN)

    admission = await desk.admit(request(duration=MAX_AUDIO_SECONDS))

    assert admission.verdict is Verdict.QUEUED


async def test_refusals_are_said_on_command_and_in_private_but_not_in_auto_mode(
    desk: Desk,
) -> None:
    big, long = {"file_size": MAX_FILE_SIZE + 1}, {"duration": MAX_AUDIO_SECONDS + 1}

    for n, kw in enumerate((big, long)):
        quiet = await desk.admit(in_group(Trigger.AUTO, message_id=100 + n, **kw))
        asked = await desk.admit(in_group(Trigger.COMMAND, message_id=200 + n, **kw))
        assert (quiet.verdict, quiet.reply) == (Verdict.REFUSED, None)
        assert asked.verdict is Verdict.REFUSED and asked.reply

    assert await desk.job_rows() == []


# Duplicates


async def test_a_note_sent_twice_is_queued_once_and_the_second_time_quietly(desk: Desk) -> None:
    first = await desk.admit(request())
    again = await desk.admit(request())

    assert first.verdict is Verdict.QUEUED
    assert again == Admission(Verdict.REFUSED)
    assert len(await desk.job_rows()) == 1
    assert desk.runner.wakes == 1
    assert (await desk.standing()).reserved_seconds == 30


async def test_transcribe_on_a_note_auto_mode_took_answers_that_it_is_on_its_way(
    desk: Desk,
) -> None:
    await desk.admit(in_group(Trigger.AUTO))
    again = await desk.admit(in_group(Trigger.COMMAND))

    assert again.verdict is Verdict.REFUSED
    assert again.reply == en(texts.ALREADY)
    assert len(await desk.job_rows()) == 1


async def test_transcribe_retries_a_note_whose_job_failed_uncharged(desk: Desk) -> None:
    first = await desk.admit(in_group(Trigger.AUTO))
    assert first.job_id is not None
    await jobs.fail(desk.db, first.job_id, "mistral_unavailable")

    retry = await desk.admit(in_group(Trigger.COMMAND))

    assert retry.verdict is Verdict.QUEUED
    assert retry.job_id == first.job_id
    [row] = await desk.job_rows()
    assert (row["status"], row["error"], row["trigger"]) == ("queued", None, "command")


# Over quota


async def test_over_quota_the_reply_says_what_is_left_and_when_it_resets(desk: Desk) -> None:
    await desk.admit(request(message_id=1, duration=500))

    admission = await desk.admit(request(message_id=2, duration=120))

    assert admission.verdict is Verdict.REFUSED
    assert admission.reply == en.over_quota(120, 100, "month", desk.policy.resets_at())
    assert "1 min 40 s" in admission.reply
    assert len(await desk.job_rows()) == 1
    assert (await desk.standing()).reserved_seconds == 500
    assert desk.runner.wakes == 1


async def test_a_note_that_just_fits_the_quota_is_queued(desk: Desk) -> None:
    await desk.admit(request(message_id=1, duration=500))

    admission = await desk.admit(request(message_id=2, duration=100))

    assert admission.verdict is Verdict.QUEUED
    assert (await desk.standing()).reserved_seconds == DEFAULT_QUOTA


async def test_an_own_quota_replaces_the_default(desk: Desk) -> None:
    await usage.set_quota(desk.db, PAYER, 10, by=ADMIN)

    admission = await desk.admit(request(duration=11))

    assert admission.reply == en.over_quota(11, 10, "month", desk.policy.resets_at())


async def test_in_auto_mode_a_user_over_quota_is_told_once_per_group_and_period(
    desk: Desk,
) -> None:
    await usage.set_quota(desk.db, PAYER, 0, by=ADMIN)

    first = await desk.admit(in_group(message_id=1))
    second = await desk.admit(in_group(message_id=2))
    elsewhere = await desk.admit(in_group(message_id=3, chat_id=GROUP - 1))
    asked = await desk.admit(in_group(Trigger.COMMAND, message_id=4))

    expected = en.over_quota(30, 0, "month", desk.policy.resets_at())
    assert (first.verdict, first.reply) == (Verdict.REFUSED, expected)
    assert (second.verdict, second.reply) == (Verdict.REFUSED, None)
    assert elsewhere.reply == expected
    # Asked for with /transcribe, the answer is always given.
    assert asked.reply == expected
    assert await desk.job_rows() == []


async def test_a_notice_of_an_earlier_period_does_not_keep_this_ones_quiet(desk: Desk) -> None:
    await usage.set_quota(desk.db, PAYER, 0, by=ADMIN)
    assert await notices.first_quota_notice(desk.db, GROUP, PAYER, "2000-01")

    admission = await desk.admit(in_group(message_id=1))

    assert admission.reply == en.over_quota(30, 0, "month", desk.policy.resets_at())


async def test_in_private_every_note_over_quota_gets_the_answer(desk: Desk) -> None:
    await usage.set_quota(desk.db, PAYER, 0, by=ADMIN)

    replies = [(await desk.admit(request(message_id=n))).reply for n in (1, 2)]

    assert replies == [en.over_quota(30, 0, "month", desk.policy.resets_at())] * 2


# Declared durations: 0 and unknown


async def test_a_declared_duration_of_zero_is_stored_as_zero_and_reserves_nothing(
    desk: Desk,
) -> None:
    admission = await desk.admit(request(duration=0.0))

    assert admission.verdict is Verdict.QUEUED
    [row] = await desk.job_rows()
    assert row["declared_seconds"] == 0
    assert row["reserved_seconds"] == 0


async def test_an_unknown_duration_is_stored_as_unknown_and_reserves_nothing(
    desk: Desk,
) -> None:
    admission = await desk.admit(request(duration=None))

    assert admission.verdict is Verdict.QUEUED
    [row] = await desk.job_rows()
    assert row["declared_seconds"] is None
    assert row["reserved_seconds"] == 0


async def test_a_fraction_of_a_second_reserves_a_whole_second(desk: Desk) -> None:
    await desk.admit(request(duration=0.2))

    [row] = await desk.job_rows()
    assert (row["declared_seconds"], row["reserved_seconds"]) == (1, 1)


async def test_with_no_quota_left_a_note_of_unknown_length_is_refused_unread(
    desk: Desk,
) -> None:
    # Nothing to reserve must not mean a free download and probe for a payer with nothing left.
    await usage.set_quota(desk.db, PAYER, 0, by=ADMIN)

    admission = await desk.admit(request(message_id=1, duration=None))

    assert admission.verdict is Verdict.REFUSED
    assert admission.reply is not None and "0 s" in admission.reply
    assert await desk.job_rows() == []


async def test_with_some_quota_left_a_note_of_unknown_length_gets_in(desk: Desk) -> None:
    # Its real length is checked against the quota once the file is probed (the processor).
    await usage.set_quota(desk.db, PAYER, 5, by=ADMIN)

    assert (await desk.admit(request(message_id=1, duration=None))).verdict is Verdict.QUEUED


async def test_past_the_pending_limit_a_note_is_refused_with_a_paced_answer(desk: Desk) -> None:
    for n in range(MAX_PENDING):
        assert (await desk.admit(request(message_id=n, duration=1))).verdict is Verdict.QUEUED

    admission = await desk.admit(request(message_id=99, duration=1))

    assert admission.verdict is Verdict.REFUSED
    assert admission.paced
    assert admission.reply == en(texts.TOO_MANY_PENDING)
    assert len(await desk.job_rows()) == MAX_PENDING
    assert (await desk.standing()).reserved_seconds == MAX_PENDING


async def test_a_finished_note_makes_room_under_the_pending_limit(desk: Desk) -> None:
    for n in range(MAX_PENDING):
        await desk.admit(request(message_id=n, duration=1))
    [first, *_] = await desk.job_rows()
    await jobs.fail(desk.db, first["id"], "crashed")

    assert (await desk.admit(request(message_id=99, duration=1))).verdict is Verdict.QUEUED
