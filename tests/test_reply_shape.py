"""What users get back (issue 6): nothing heard, long transcripts as files, SRT/TXT buttons."""

from __future__ import annotations

from pathlib import Path

from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import answer_to, expected_lines, job_statuses, transcript_of, usage_row


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


async def test_a_20000_character_transcript_is_a_preview_and_a_txt_file(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    # Forty segments of ~520 characters (Cyrillic, HTML specials): over 20,000 characters.
    mistral.vocabulary = [f"№{k} <абзац> & " + "слово и дело, " * 36 for k in range(100)]
    words, total = media.script(40, word_seconds=0.5, pause_seconds=0.5)
    data = media.encode(media.speech(words, total), "ogg")
    expected = expected_lines(words, mistral.vocabulary)
    whole = "".join(f"{line.strip()}\n" for line in expected)
    assert len(whole) > 20_000
    vic = tg.user(1900, "Vic")
    chat = tg.private_chat(vic)
    async with run_bot():
        note = tg.send_voice(chat, vic, data, duration=round(total))
        first = (await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"])))[0]
        (document,) = await tg.wait_for(
            lambda: [m for m in tg.replies_to(chat["id"], first.message_id) if m.document]
        )
    texts = [m for m in tg.bot_messages(chat["id"]) if m.text and not m.document]
    assert 1 <= len(texts) <= 3
    # The preview is the start of the transcript, whole lines but maybe the last, then a pointer.
    shown = [line for m in texts for line in (m.text or "").splitlines()]
    assert shown[-1] == "… The whole transcript is in the file below."
    assert shown[:-2] == [line.strip() for line in expected[: len(shown) - 2]]
    assert expected[len(shown) - 2].strip().startswith(shown[-2])
    assert all(len(m.text or "") <= 4096 for m in texts)
    assert document.document is not None
    name, content = document.document
    assert name.endswith(".txt")
    assert content.decode() == whole
