"""The fault matrix: each API failure ends as a user would expect, a failed
job costs nothing, and the bot goes on serving the next note.

Persistent 500s and 429s of Mistral and 429s of the Bot API are in test_errors.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import Tuning
from bot.i18n import texts
from tests import media
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import expected_lines, job_statuses, transcript_of, usage_row

ATTEMPTS = FAST.mistral_retry.attempts
DOWNLOAD_ATTEMPTS = 3  # TelegramFiles' attempts at getFile and the download together

Inject = Callable[[FakeTelegram, FakeMistral, dict[str, Any]], None]


@dataclass(frozen=True)
class Fault:
    """A fault injected when the note is sent, and what the user should then see."""

    inject: Inject
    reply: str | None  # the failure reply; None: the transcript (the fault was retried away)
    tuning: Tuning = FAST


def file_id(note: dict[str, Any]) -> str:
    return str(note["voice"]["file_id"])


MISTRAL_FAULTS = {
    # Dropped connections, timeouts and 5xx are retried: once is invisible to the user…
    "reset once": Fault(lambda tg, m, n: m.reset_next(), None),
    "502 once": Fault(lambda tg, m, n: m.fail_transcriptions(502), None),
    "503 once": Fault(lambda tg, m, n: m.fail_transcriptions(503), None),
    "hang once": Fault(
        lambda tg, m, n: m.hang_next(30),
        None,
        dataclasses.replace(FAST, mistral_timeout=1.0),
    ),
    # …every time, it is reported as temporary trouble.
    "reset always": Fault(lambda tg, m, n: m.reset_next(ATTEMPTS), texts.SERVICE_BUSY),
    "502 always": Fault(
        lambda tg, m, n: m.fail_transcriptions(502, times=ATTEMPTS), texts.SERVICE_BUSY
    ),
    "503 always": Fault(
        lambda tg, m, n: m.fail_transcriptions(503, times=ATTEMPTS), texts.SERVICE_BUSY
    ),
    "hang always": Fault(
        lambda tg, m, n: m.hang_next(30, times=ATTEMPTS),
        texts.SERVICE_BUSY,
        dataclasses.replace(FAST, mistral_timeout=1.0),
    ),
    # A refusal is not retried: the audio itself was refused.
    "422": Fault(lambda tg, m, n: m.fail_transcriptions(422), texts.SERVICE_REFUSED),
    # A garbled answer is trouble on Mistral's side: try again later.
    "not json": Fault(
        lambda tg, m, n: m.fail_transcriptions(200, body="<html>upstream error</html>"),
        texts.SERVICE_BUSY,
    ),
}

TELEGRAM_FAULTS = {
    "getFile 500 once": Fault(
        lambda tg, m, n: tg.fail_next("getFile", status=500, description="Internal Server Error"),
        None,
    ),
    "getFile 500 always": Fault(
        lambda tg, m, n: tg.fail_next(
            "getFile", status=500, description="Internal Server Error", times=DOWNLOAD_ATTEMPTS
        ),
        texts.DOWNLOAD_FAILED,
    ),
    "getFile refused": Fault(
        lambda tg, m, n: tg.fail_next(
            "getFile",
            status=400,
            description="Bad Request: wrong file_id or the file is temporarily unavailable",
        ),
        texts.DOWNLOAD_FAILED,
    ),
    "download 404 once": Fault(lambda tg, m, n: tg.fail_download(file_id(n)), None),
    "download 404 always": Fault(
        lambda tg, m, n: tg.fail_download(file_id(n), times=DOWNLOAD_ATTEMPTS),
        texts.DOWNLOAD_FAILED,
    ),
}

FAULTS = {**MISTRAL_FAULTS, **TELEGRAM_FAULTS}


async def serves_next_note(
    tg: FakeTelegram, mistral: FakeMistral, chat: dict[str, Any], user: dict[str, Any]
) -> int:
    """The same user sends another note and gets its transcript; returns its billed seconds."""
    data, words, total = media.voice_note(3)
    note = tg.send_voice(chat, user, data, duration=round(total))
    replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    return mistral.transcriptions[-1].billed_seconds


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_fault(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path, fault: Fault
) -> None:
    data, words, total = media.voice_note(2)
    olga = tg.user(1800, "Olga")
    chat = tg.private_chat(olga)
    async with run_bot(tuning=fault.tuning):
        note = tg.send_voice(chat, olga, data, duration=round(total))
        fault.inject(tg, mistral, note)
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        mistral.release_hangs()  # requests the bot gave up on
        (answer,) = replies
        if fault.reply is None:
            assert (answer.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
            first_billed = mistral.transcriptions[-1].billed_seconds
            assert usage_row(db_path, olga["id"]) == (first_billed, 0)
        else:
            assert answer.text == fault.reply
            assert usage_row(db_path, olga["id"]) == (0, 0)
            first_billed = 0
        billed = await serves_next_note(tg, mistral, chat, olga)
        await mistral.wait_for(lambda: not mistral.live_files)
    assert job_statuses(db_path) == ["done" if fault.reply is None else "failed", "done"]
    assert usage_row(db_path, olga["id"]) == (first_billed + billed, 0)


async def test_no_retry_after_a_refusal_or_a_garbled_answer(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    pia = tg.user(1801, "Pia")
    chat = tg.private_chat(pia)
    mistral.fail_transcriptions(422)
    mistral.fail_transcriptions(200, body="not json")
    async with run_bot():
        for _ in range(2):
            note = tg.send_voice(chat, pia, data, duration=round(total))
            await tg.wait_for(lambda n=note: transcript_of(tg, chat["id"], n["message_id"]))
    assert [c.status for c in mistral.transcriptions] == [422, 200]


async def test_a_reply_target_deleted_meanwhile_still_gets_the_transcript(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    data, words, total = media.voice_note(3)
    quinn = tg.user(1802, "Quinn")
    chat = tg.private_chat(quinn)
    mistral.hang_next(60)
    async with run_bot():
        note = tg.send_voice(chat, quinn, data, duration=round(total))
        (status,) = await tg.wait_for(lambda: tg.replies_to(chat["id"], note["message_id"]))
        await mistral.wait_for(lambda: mistral.hanging == 1)
        # The user deletes the note and the status message while it is being transcribed.
        tg.delete_message(chat["id"], note["message_id"])
        tg.delete_message(chat["id"], status.message_id)
        mistral.release_hangs()
        (transcript,) = await tg.wait_for(lambda: tg.bot_messages(chat["id"]))
        assert transcript.reply_to_message_id is None  # sent without its reply target
        assert (transcript.text or "").splitlines() == expected_lines(words, mistral.vocabulary)
        first = mistral.transcriptions[-1].billed_seconds
        second = await serves_next_note(tg, mistral, chat, quinn)
    assert job_statuses(db_path) == ["done", "done"]
    assert usage_row(db_path, quinn["id"]) == (first + second, 0)


async def test_a_user_who_blocked_the_bot_ends_the_job_without_retries(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    data, _, total = media.voice_note(2)
    rosa = tg.user(1803, "Rosa")
    chat = tg.private_chat(rosa)
    tg.fail_next(
        "editMessageText", status=403, description="Forbidden: bot was blocked by the user"
    )
    async with run_bot():
        note = tg.send_voice(chat, rosa, data, duration=round(total))
        (status,) = await tg.wait_for(lambda: tg.replies_to(chat["id"], note["message_id"]))
        await tg.wait_for(lambda: tg.calls("editMessageText"))
        # She unblocks the bot and sends another note: it is served as usual.
        second = await serves_next_note(tg, mistral, chat, rosa)
    assert status.edits == 0  # the transcript never reached her…
    assert len(tg.calls("editMessageText")) == 2  # …was tried once, not retried; then the next
    assert [m.message_id for m in tg.bot_messages(chat["id"])] == [
        status.message_id,
        status.message_id + 2,
    ]
    assert job_statuses(db_path) == ["done", "done"]
    # The transcript was made, so it is paid for, once.
    first = mistral.transcriptions[0].billed_seconds
    assert usage_row(db_path, rosa["id"]) == (first + second, 0)
