"""/speakers: each line says who speaks, in chat and in the .srt and .txt files."""

from __future__ import annotations

import re
from pathlib import Path

from bot.domain.options import TranscriptionOptions
from bot.domain.transcript import Notice
from bot.settings import UploadMode
from bot.transcription.mistral import MistralClient
from bot.transcription.transcriber import Transcriber
from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db, answer_to, expected_lines, transcript_of
from tests.postgres import both_backends
from tests.test_buttons import SRT, TXT, buttons
from tests.test_groups import reply_to

LOW, HIGH = [0, 1, 2, 3], [60, 61, 62, 63]
"""Two voices to the fake Mistral: words 0–49 sound low, 50–99 high."""
TURNS = [LOW[:2], HIGH[:2], LOW[2:], HIGH[2:]]
LINE = re.compile(r"^(\d+:\d\d) (?:(Speaker \d+): )?(.+)$")


def voices(lines: list[str]) -> list[tuple[str | None, str]]:
    """(label in force, word) per transcript line: a line without a label keeps the last one."""
    current: str | None = None
    out = []
    for line in lines:
        match = LINE.match(line)
        assert match, line
        current = match[2] or current
        out.append((current, match[3]))
    return out


def dialogue_note() -> tuple[bytes, list[media.Word], float]:
    words, total = media.dialogue(TURNS)
    return media.encode(media.speech(words, total), "ogg"), words, total


@both_backends
async def test_two_voices_get_two_consistent_labels_until_speakers_are_off_again(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = dialogue_note()
    vocab = mistral.vocabulary
    ada = tg.user(4100, "Ada")
    chat = tg.private_chat(ada)
    async with run_bot():
        said = tg.send_text(chat, ada, "/speakers on")
        answer = await tg.wait_for(lambda: answer_to(tg, chat["id"], said["message_id"]))
        assert "Speaker labels are on" in (answer.text or "")
        note = tg.send_voice(chat, ada, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        lines = (replies[0].text or "").splitlines()
        await tg.wait_for(lambda: replies[0].reply_markup)
        for label in (SRT, TXT):
            tg.press(chat["id"], replies[0].message_id, ada, buttons(replies[0])[label])
        files = await tg.wait_for(
            lambda: (
                docs
                if len(docs := [m.document for m in tg.bot_messages(chat["id"]) if m.document]) == 2
                else None
            )
        )

        off = tg.send_text(chat, ada, "/speakers off")
        await tg.wait_for(lambda: answer_to(tg, chat["id"], off["message_id"]))
        again = tg.send_voice(chat, ada, data, duration=round(total))
        plain = await tg.wait_for(lambda: transcript_of(tg, chat["id"], again["message_id"]))

    # Mistral was asked who speaks, with segment timestamps, and only while it was on.
    first, second = mistral.transcriptions
    assert first.fields["diarize"] == ["true"]
    assert first.fields["timestamp_granularities"] == ["segment"]
    assert "diarize" not in second.fields
    # Each voice has one label of its own, the first heard is Speaker 1; a label shows where
    # the speaker changes.
    heard = voices(lines)
    assert [word for _, word in heard] == [vocab[w.index] for w in words]
    low = {label for label, word in heard if vocab.index(word) in LOW}
    high = {label for label, word in heard if vocab.index(word) in HIGH}
    assert low == {"Speaker 1"} and high == {"Speaker 2"}
    assert sum("Speaker" in line for line in lines) == len(TURNS)
    # The files carry the labels too: every cue of the .srt, each change in the .txt.
    by_name = {name.rsplit(".", 1)[1]: content.decode() for name, content in files}
    cues = [c.splitlines()[2] for c in by_name["srt"].strip().split("\n\n")]
    assert cues == [f"{label}: {word}" for label, word in heard]
    assert by_name["txt"].splitlines() == lines
    # Off again: no labels.
    assert (plain[0].text or "").splitlines() == expected_lines(words, vocab)


async def test_a_pinned_language_wins_over_speaker_labels_and_the_transcript_says_so(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = dialogue_note()
    bo = tg.user(4101, "Bo")
    chat = tg.private_chat(bo)
    async with run_bot():
        for command in ("/language en", "/speakers on"):
            said = tg.send_text(chat, bo, command)
            answer = await tg.wait_for(lambda s=said: answer_to(tg, chat["id"], s["message_id"]))
        # Turning labels on with a language pinned already says they wait for /language auto.
        assert "/language auto" in (answer.text or "")
        note = tg.send_voice(chat, bo, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
    (call,) = mistral.transcriptions
    assert call.fields["language"] == ["en"]
    assert "diarize" not in call.fields and "timestamp_granularities" not in call.fields
    first, *rest = (replies[0].text or "").splitlines()
    assert first == (
        "No speaker labels: they need the language detected automatically (/language auto)."
    )
    assert rest and not any("Speaker" in line for line in rest)


@both_backends
async def test_only_group_admins_change_the_groups_speaker_labels(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    group_id = -100_4102
    group = tg.group_chat(group_id, "Crew")
    boss, mate = tg.user(4103, "Boss"), tg.user(4104, "Mate")
    tg.set_admins(group_id, [boss["id"]])
    data, _, total = dialogue_note()
    async with run_bot():
        tried = tg.send_text(group, mate, "/speakers on")
        refusal = await tg.wait_for(lambda: answer_to(tg, group_id, tried["message_id"]))
        assert "admins" in (refusal.text or "")
        assert database.rows("SELECT speakers FROM chats WHERE chat_id = ?", (group_id,)) in (
            [],
            [(0,)],
        )
        note = tg.send_voice(group, mate, data, duration=round(total))
        unlabelled = await tg.wait_for(lambda: reply_to(tg, group_id, note["message_id"]))
        assert "Speaker" not in (unlabelled.text or "")

        done = tg.send_text(group, boss, "/speakers on")
        answer = await tg.wait_for(lambda: answer_to(tg, group_id, done["message_id"]))
        assert "on in this group" in (answer.text or "")
        # The group's setting holds for everyone's notes in it.
        later = tg.send_voice(group, mate, data, duration=round(total))
        labelled = await tg.wait_for(lambda: reply_to(tg, group_id, later["message_id"]))
    assert "Speaker 1: " in (labelled.text or "")
    assert "Speaker 2: " in (labelled.text or "")


async def test_long_audio_in_parts_numbers_speakers_per_part_and_says_so(
    mistral: FakeMistral, tmp_path: Path
) -> None:
    # Turns of about 2 s, parts cut at about 20 s: each part hears both voices.
    words, total = media.dialogue([[0, 1, 2], [60, 61, 62]] * 4, turn_pause=2.0)
    assert total > 25
    source = tmp_path / "talk.ogg"
    source.write_bytes(media.encode(media.speech(words, total), "ogg"))
    client = MistralClient(mistral.base_url, mistral.api_key, "voxtral-mini-latest")
    try:
        transcriber = Transcriber(client, mode=UploadMode.DIRECT, limit=2, chunk_seconds=20)
        transcript = await transcriber.transcribe(
            source,
            tmp_path / "work",
            duration=total,
            options=TranscriptionOptions(speakers=True),
        )
    finally:
        await client.aclose()
    assert len(mistral.transcriptions) > 1
    assert transcript.notices == (Notice.SPEAKERS_PER_PART,)
    assert {s.speaker for s in transcript.segments} == {"1", "2"}
