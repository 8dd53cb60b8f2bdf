"""What users get back (issue 6): nothing heard, long transcripts as files, SRT/TXT buttons."""

from __future__ import annotations

from pathlib import Path

from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import answer_to, job_statuses, transcript_of, usage_row


async def test_silence_or_only_punctuation_is_no_speech_and_costs_nothing(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, db_path: Path
) -> None:
    silence = media.encode(media.speech([], 3.0), "ogg")
    # A tone word Mistral "hears" as punctuation and spaces only: nothing was said either.
    mistral.vocabulary[7] = " … ?! "
    words, total = media.script(1, first_index=7)
    mumble = media.encode(media.speech(words, total), "ogg")
    lea = tg.user(1700, "Lea")
    chat = tg.private_chat(lea)
    async with run_bot():
        for data, seconds in ((silence, 3), (mumble, round(total))):
            note = tg.send_voice(chat, lea, data, duration=seconds)
            (reply,) = await tg.wait_for(
                lambda n=note: transcript_of(tg, chat["id"], n["message_id"])
            )
            assert reply.text == "🔇 No speech detected."
        cmd = tg.send_text(chat, lea, "/usage")
        answer = await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))
    # Mistral really answered both (and billed them): the bot chose not to charge.
    assert [c.status for c in mistral.transcriptions] == [200, 200]
    assert all(c.billed_seconds > 0 for c in mistral.transcriptions)
    assert usage_row(db_path, lea["id"]) == (0, 0)
    assert (answer.text or "").startswith("You used 0 s")
    assert job_statuses(db_path) == ["done", "done"]
