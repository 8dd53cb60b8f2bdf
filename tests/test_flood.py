"""One payer cannot crowd the queue, nor make the bot read files on an empty quota."""

from __future__ import annotations

from tests import media
from tests.conftest import ADMIN_ID, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db, answer_to, transcript_of


async def test_past_max_pending_notes_are_refused_once_and_not_queued(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot, database: Db
) -> None:
    data, _, total = media.voice_note(1)
    mona = tg.user(3400, "Mona")
    chat = tg.private_chat(mona)
    mistral.stop_answering()  # nothing finishes: every accepted note stays pending
    async with run_bot(MAX_PENDING_PER_USER=4, MAX_CONCURRENT_TRANSCRIPTIONS=2):
        notes = [tg.send_voice(chat, mona, data, duration=round(total)) for _ in range(12)]
        last = tg.last_update_id
        # Every note was handled (Telegram was told so), and the refusal is out.
        await tg.wait_for(
            lambda: any(int(c.params.get("offset") or 0) > last for c in tg.calls("getUpdates"))
        )
        refusals = await tg.wait_for(
            lambda: [
                m for m in tg.bot_messages(chat["id"]) if "many notes waiting" in (m.text or "")
            ]
        )
        assert len(database.rows("SELECT id FROM jobs")) == 4
        # A flood gets one short answer, not one per note.
        assert len(refusals) == 1
        mistral.answer_again()
        for n in notes[:4]:
            await tg.wait_for(lambda n=n: transcript_of(tg, chat["id"], n["message_id"]))
        # Room again: the next note is taken.
        more = tg.send_voice(chat, mona, data, duration=round(total))
        await tg.wait_for(lambda: transcript_of(tg, chat["id"], more["message_id"]))


async def test_a_payer_at_zero_quota_gets_no_file_downloaded(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, _ = media.voice_note(1)
    nils = tg.user(3500, "Nils")
    chat = tg.private_chat(nils)
    admin = tg.user(ADMIN_ID, "Op")
    async with run_bot():
        cmd = tg.send_text(tg.private_chat(admin), admin, f"/setquota {nils['id']} 0")
        await tg.wait_for(lambda: answer_to(tg, admin["id"], cmd["message_id"]))
        # Documents declare no duration: nothing to reserve, yet nothing is left either.
        docs = [
            tg.send_document(chat, nils, data, file_name=f"memo{n}.ogg", mime_type="audio/ogg")
            for n in range(5)
        ]
        for doc in docs:
            reply = await tg.wait_for(lambda d=doc: answer_to(tg, chat["id"], d["message_id"]))
            assert "0 s" in (reply.text or "")
    assert tg.calls("getFile") == []
    assert mistral.transcriptions == []


async def test_a_status_message_telegram_refuses_after_queueing_says_nothing_untrue(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    olga = tg.user(3600, "Olga")
    chat = tg.private_chat(olga)
    async with run_bot():
        # The job is queued; then Telegram fails the status message (twice: the limiter's
        # retry too). The note is still transcribed, and nobody is told nothing was charged.
        tg.fail_next("sendMessage", status=500, description="Internal Server Error", times=2)
        note = tg.send_voice(chat, olga, data, duration=round(total))
        # With no status message to edit, the transcript comes as a new reply to the note.
        (reply,) = await tg.wait_for(lambda: tg.replies_to(chat["id"], note["message_id"]))
        assert (reply.text or "").startswith("0:00 ")
    said = [m.text or "" for m in tg.bot_messages(chat["id"])]
    assert not any("Nothing was charged" in text for text in said)
