"""/language: a pinned language goes to Mistral without timestamps."""

from __future__ import annotations

from bot.domain.languages import LANGUAGES
from bot.i18n import texts
from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import answer_to, expected_lines, transcript_of

GROUP = -100600


async def test_pinned_language_unknown_code_and_back_to_auto(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, words, total = media.voice_note(3)
    said = " ".join(mistral.vocabulary[w.index] for w in words)
    uma = tg.user(1800, "Uma")
    chat = tg.private_chat(uma)

    async def command(text: str) -> str:
        cmd = tg.send_text(chat, uma, text)
        answer = await tg.wait_for(lambda: answer_to(tg, chat["id"], cmd["message_id"]))
        return answer.text or ""

    async def transcribe() -> list[str]:
        note = tg.send_voice(chat, uma, data, duration=round(total))
        replies = await tg.wait_for(lambda: transcript_of(tg, chat["id"], note["message_id"]))
        return (replies[0].text or "").splitlines()

    async with run_bot():
        assert "German (de)" in await command("/language de")
        pinned = await transcribe()
        # An unknown code changes nothing and gets the list of accepted ones.
        unknown = await command("/language xx")
        assert "“xx”" in unknown
        english = texts.of("en")
        assert all(english.language_name(code) in unknown for code in LANGUAGES)
        assert "German (de)" in await command("/language")
        assert "automatically" in await command("/language auto")
        auto = await transcribe()

    first, second = mistral.transcriptions
    assert first.fields["language"] == ["de"]
    assert "timestamp_granularities" not in first.fields
    # No segment times: the whole text under the start time of its (only) chunk.
    assert pinned == [f"0:00 {said}"]
    assert "language" not in second.fields
    assert second.fields["timestamp_granularities"] == ["segment"]
    assert auto == expected_lines(words, mistral.vocabulary)


async def test_group_language_is_set_by_its_admins_and_used_for_its_notes(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    group = tg.group_chat(GROUP, "Équipe")
    member, boss = tg.user(1810, "Mo"), tg.user(1811, "Boss")
    tg.set_admins(GROUP, [boss["id"]])
    data, _, total = media.voice_note(2)
    async with run_bot():
        # The member's own choice in private does not apply to the group's notes.
        private = tg.private_chat(member)
        own = tg.send_text(private, member, "/language es")
        await tg.wait_for(lambda: answer_to(tg, private["id"], own["message_id"]))
        refused = tg.send_text(group, member, "/language de")
        answer = await tg.wait_for(lambda: answer_to(tg, GROUP, refused["message_id"]))
        assert "admins" in (answer.text or "")
        done = tg.send_text(group, boss, "/language fr")
        answer = await tg.wait_for(lambda: answer_to(tg, GROUP, done["message_id"]))
        assert "this group" in (answer.text or "")
        assert "French (fr)" in (answer.text or "")
        note = tg.send_voice(group, member, data, duration=round(total))
        await tg.wait_for(lambda: tg.replies_to(GROUP, note["message_id"]))
        tg.send_voice(private, member, data, duration=round(total))
        await mistral.wait_for(lambda: len(mistral.transcripts()) == 2)
    assert [c.fields["language"] for c in mistral.transcriptions] == [["fr"], ["es"]]
