"""/vocab: names and terms sent to Mistral as context_bias, per user or per group."""

from __future__ import annotations

import logging

import pytest

from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import DEFAULT_MODEL, FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db, expected_lines, transcript_of, usage_row
from tests.postgres import both_backends
from tests.test_forgetme import forget, say

GROUP = -100_4200


def vocabulary_rows(database: Db, owner_id: int) -> list[str]:
    return [
        r[0] for r in database.rows("SELECT term FROM vocabulary WHERE owner_id = ?", (owner_id,))
    ]


@both_backends
async def test_a_term_misheard_without_the_vocabulary_is_heard_right_with_it(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    mistral.mishear = {"bravo": "brave oh"}
    data, words, total = media.voice_note(3)  # alpha bravo charlie
    eve = tg.user(4200, "Eve")
    chat = tg.private_chat(eve)
    async with run_bot():
        before = tg.send_voice(chat, eve, data, duration=round(total))
        misheard = await tg.wait_for(lambda: transcript_of(tg, chat["id"], before["message_id"]))
        answer = await say(tg, eve, chat, "/vocab bravo Jean_Dupont")
        assert answer.text == "Added: bravo, Jean_Dupont. The list holds 2 of 100 terms."
        listed = await say(tg, eve, chat, "/vocab")
        assert (listed.text or "").startswith("Your vocabulary (2 of 100): bravo, Jean_Dupont")
        after = tg.send_voice(chat, eve, data, duration=round(total))
        heard = await tg.wait_for(lambda: transcript_of(tg, chat["id"], after["message_id"]))
    assert "brave oh" in (misheard[0].text or "")
    assert (heard[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    assert mistral.transcriptions[1].fields["context_bias"] == ["bravo", "Jean_Dupont"]


async def test_terms_that_cannot_be_sent_and_a_101st_are_refused_whole(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    fay = tg.user(4201, "Fay")
    chat = tg.private_chat(fay)
    async with run_bot():
        comma = await say(tg, fay, chat, "/vocab good Smith,John")
        long = await say(tg, fay, chat, "/vocab good " + "x" * 51)
        hidden = await say(tg, fay, chat, "/vocab good zero\u200bwidth")
        assert vocabulary_rows(database, fay["id"]) == []
        full = await say(tg, fay, chat, "/vocab " + " ".join(f"t{i}" for i in range(100)))
        again = await say(tg, fay, chat, "/vocab T5 t99")  # listed already, in any case
        over = await say(tg, fay, chat, "/vocab one_more")
        cleared = await say(tg, fay, chat, "/vocab clear")
    assert "holds a comma" in (comma.text or "") and "Nothing was added" in (comma.text or "")
    assert "at most 50 characters" in (long.text or "")
    assert "cannot be sent" in (hidden.text or "")
    assert full.text == f"Added: {', '.join(f't{i}' for i in range(100))}. " + (
        "The list holds 100 of 100 terms."
    )
    assert (again.text or "").startswith("These terms are in the list already.")
    assert "room for 0 more" in (over.text or "")
    assert cleared.text == "The list is empty now (100 terms removed)."
    assert vocabulary_rows(database, fay["id"]) == []


@both_backends
async def test_only_group_admins_change_the_groups_list(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    group = tg.group_chat(GROUP, "Crew")
    boss, mate = tg.user(4202, "Boss"), tg.user(4203, "Mate")
    tg.set_admins(GROUP, [boss["id"]])
    data, _, total = media.voice_note(2)
    async with run_bot():
        refused = await say(tg, mate, group, "/vocab Voxtral")
        await say(tg, boss, group, "/vocab Mistral")
        # A second refusal within seconds is not sent (refusals are paced): it changes nothing.
        tg.send_text(group, mate, "/vocab clear")
        listed = await say(tg, mate, group, "/vocab")  # anyone may read it
        note = tg.send_voice(group, mate, data, duration=round(total))
        await tg.wait_for(lambda: [c for c in mistral.transcriptions if c.status == 200])
        await tg.wait_for(lambda: tg.replies_to(GROUP, note["message_id"]))
    assert "admins" in (refused.text or "")
    assert vocabulary_rows(database, GROUP) == ["Mistral"]
    assert (listed.text or "").startswith("This group's vocabulary (1 of 100): Mistral")
    # The group's list is sent with every note in it, whoever sent the note.
    assert mistral.transcriptions[0].fields["context_bias"] == ["Mistral"]


@both_backends
async def test_a_model_refusing_the_vocabulary_transcribes_without_it_once_charged(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    mistral.refuse_context_bias = True
    data, words, total = media.voice_note(3)
    gus = tg.user(4204, "Gus")
    chat = tg.private_chat(gus)
    async with run_bot():
        await say(tg, gus, chat, "/vocab Voxtral")
        note = tg.send_voice(chat, gus, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    refused, answered = mistral.transcriptions
    assert refused.status == 422 and refused.fields["context_bias"] == ["Voxtral"]
    assert answered.status == 200 and "context_bias" not in answered.fields
    first, *lines = (replies[0].text or "").splitlines()
    assert first == "The /vocab list was not applied: the transcription model does not take one."
    assert lines == expected_lines(words, mistral.vocabulary)
    assert usage_row(database, gus["id"]) == (answered.billed_seconds, 0)


async def test_forgetme_deletes_the_users_list(
    tg: FakeTelegram, run_bot: RunBot, database: Db
) -> None:
    hal = tg.user(4205, "Hal")
    chat = tg.private_chat(hal)
    async with run_bot():
        await say(tg, hal, chat, "/vocab Voxtral Mistral")
        await say(tg, hal, chat, "/speakers on")
        assert len(vocabulary_rows(database, hal["id"])) == 2
        said = await forget(tg, hal, chat)
        listed = await say(tg, hal, chat, "/vocab")
        speakers = await say(tg, hal, chat, "/speakers")
    assert "• terms of your /vocab list: 2" in said
    assert vocabulary_rows(database, hal["id"]) == []
    assert (listed.text or "").startswith("Your vocabulary is empty.")
    assert (speakers.text or "").startswith("Speaker labels are off.")


async def test_a_model_that_cannot_transcribe_is_one_warning_and_the_bot_still_works(
    tg: FakeTelegram,
    mistral: FakeMistral,
    run_bot: RunBot,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.app")
    mistral.models[DEFAULT_MODEL].discard("audio_transcription")
    data, words, total = media.voice_note(2)
    ivy = tg.user(4206, "Ivy")
    chat = tg.private_chat(ivy)
    async with run_bot():
        note = tg.send_voice(chat, ivy, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        await tg.wait_for(lambda: [r for r in caplog.records if r.name == "bot.app"])
    assert (replies[0].text or "").splitlines() == expected_lines(words, mistral.vocabulary)
    (warning,) = [r for r in caplog.records if r.name == "bot.app"]
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == (
        f"MISTRAL_MODEL={DEFAULT_MODEL} lacks the audio_transcription capability:"
        " transcriptions may fail"
    )
