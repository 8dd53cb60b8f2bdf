"""Replies leave in the background: one chat's pacing never holds another chat's answers, and a
flood of refusals to one user is paced."""

from __future__ import annotations

import dataclasses
import time

from bot.i18n import texts
from tests.conftest import FAST, RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram

# Telegram's pacing for groups, as in production: a message every three seconds.
PACED = dataclasses.replace(FAST, group_rate=(1, 3.0), replies_at_stop=0.5)


async def test_a_flood_of_commands_in_a_group_does_not_delay_a_private_answer(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    group = tg.group_chat(-1009000)
    flooder = tg.user(9001, "Flo")
    asker = tg.user(9002, "Ada")
    private = tg.private_chat(asker)
    async with run_bot(tuning=PACED) as vox:
        for _ in range(300):
            tg.send_text(group, flooder, "/help")
        await tg.wait_for(lambda: tg.bot_messages(group["id"]))  # the flood is being answered
        pushed = time.monotonic()
        tg.send_text(private, asker, "/usage")
        await tg.wait_for(lambda: tg.bot_messages(private["id"]), timeout=5)
        (answer,) = [r for r in tg.calls("sendMessage") if r.params["chat_id"] == private["id"]]
        waiting = len(vox.outbox._queues.get(group["id"], ()))
    assert answer.at - pushed < 1.0
    assert (tg.bot_messages(private["id"])[0].text or "").startswith("You used")
    # The group's queue is bounded; the rest of the flood was dropped, not queued.
    assert waiting <= PACED.replies_per_chat
    assert len(tg.bot_messages(group["id"])) < 10


async def test_a_user_flooding_admin_commands_gets_one_refusal(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    mallory = tg.user(9101, "Mallory")
    chat = tg.private_chat(mallory)
    async with run_bot():
        for _ in range(20):
            tg.send_text(chat, mallory, "/stats")
        last = tg.send_text(chat, mallory, "/help")  # not a refusal: always answered
        await tg.wait_for(
            lambda: any(m.text and "/usage" in m.text for m in tg.bot_messages(chat["id"]))
        )
        refusals = [
            m for m in tg.bot_messages(chat["id"]) if m.text == texts.of("en")(texts.ADMIN_ONLY)
        ]
    assert len(refusals) == 1
    assert tg.bot_messages(chat["id"])[-1].message_id > last["message_id"]
