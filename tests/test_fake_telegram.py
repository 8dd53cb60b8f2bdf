"""Tests of the fake Bot API server, driven by a real telegram.Bot and by plain httpx."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.ext import Application, CommandHandler, ContextTypes

from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.fakes.tg_html import EntityParseError, parse_html

GROUP_ID = -1001234567890


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


def make_bot(tg: FakeTelegram, *, local_mode: bool = False) -> Bot:
    return Bot(
        tg.token,
        base_url=f"{tg.api_url}/bot",
        base_file_url=f"{tg.api_url}/file/bot",
        local_mode=local_mode,
    )


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with make_bot(tg) as real_bot:
        yield real_bot


@pytest.fixture
def alice(tg: FakeTelegram) -> dict[str, Any]:
    return tg.user(1001, "Alice", username="alice")


# ---------------------------------------------------------------------- sending


async def test_get_me_and_send_message(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    chat = tg.private_chat(alice)
    assert bot.username == "voxgram_test_bot"

    sent = await bot.send_message(chat["id"], "<b>Hello</b> &amp; welcome", parse_mode="HTML")

    assert sent.text == "Hello & welcome"
    assert sent.from_user is not None and sent.from_user.id == tg.bot_user["id"]
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 5
    [message] = tg.bot_messages(chat["id"])
    assert message.text == "Hello & welcome"
    assert message.html == "<b>Hello</b> &amp; welcome"
    assert message.message_id == sent.message_id
    assert [r.method for r in tg.requests] == ["getMe", "sendMessage"]
    assert tg.calls("sendmessage")[0].params["chat_id"] == chat["id"]


async def test_requests_are_timed_when_they_arrive(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    before = time.monotonic()
    await bot.send_message(chat["id"], "one")
    between = time.monotonic()
    await bot.send_message(chat["id"], "two")
    after = time.monotonic()

    first, second = tg.calls("sendMessage")
    assert before <= first.at <= between <= second.at <= after


async def test_message_ids_are_shared_between_users_and_bot(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    first = tg.send_text(chat, alice, "hi")
    sent = await bot.send_message(chat["id"], "hello")
    second = tg.send_text(chat, alice, "again")
    assert (first["message_id"], sent.message_id, second["message_id"]) == (1, 2, 3)


async def test_html_entities_count_as_one_character(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    sent = await bot.send_message(chat["id"], "&lt;" * 4096, parse_mode=ParseMode.HTML)
    assert sent.text == "<" * 4096

    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(chat["id"], "&lt;" * 4097, parse_mode=ParseMode.HTML)


async def test_length_is_counted_in_utf16_units(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    await bot.send_message(chat["id"], "😀" * 2048)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(chat["id"], "😀" * 2100)
    assert len(tg.bot_messages(chat["id"])) == 1


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_broken_html_is_refused(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any], html: str, reason: str
) -> None:
    chat = tg.private_chat(alice)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities") as caught:
        await bot.send_message(chat["id"], html, parse_mode=ParseMode.HTML)
    # PTB strips "Bad Request: " and capitalizes (lowercasing the rest) the description.
    assert reason.lower() in caught.value.message.lower()
    assert tg.bot_messages(chat["id"]) == []


def test_html_parser_accepts_what_telegram_accepts() -> None:
    text, entities = parse_html(
        '<a href="https://e.x/?a=1&amp;b=2">link</a> <pre><code class="language-py">x</code></pre>'
        ' <blockquote expandable>q</blockquote> <span class="tg-spoiler">s</span> &#x27;&#39;'
        " AT&T"
    )
    assert text == "link x q s '' AT&T"
    kinds = [(e["type"], e["offset"], e["length"]) for e in entities]
    assert kinds == [
        ("text_link", 0, 4),
        ("pre", 5, 1),
        ("expandable_blockquote", 7, 1),
        ("spoiler", 9, 1),
    ]
    assert entities[0]["url"] == "https://e.x/?a=1&b=2"
    assert entities[1]["language"] == "py"
    assert parse_html("  \n<b>x</b>\n ") == ("x", [{"offset": 0, "length": 1, "type": "bold"}])
    # An entity name Telegram does not know is shown as written.
    assert parse_html("a&nbsp;b") == ("a&nbsp;b", [])
    with pytest.raises(EntityParseError):
        parse_html("<b>")


async def test_empty_text_after_parsing(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    chat = tg.private_chat(alice)
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(chat["id"], "<b> </b>", parse_mode=ParseMode.HTML)


async def test_unknown_chat(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(424242, "hello")


async def test_send_document_with_caption(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    sent = await bot.send_document(
        chat["id"], b"transcript", filename="t.txt", caption="<i>all</i>", parse_mode="HTML"
    )
    assert sent.document is not None
    assert sent.document.file_name == "t.txt"
    assert sent.document.mime_type == "text/plain"
    assert sent.caption == "all"
    [message] = tg.bot_messages(chat["id"])
    assert message.document == ("t.txt", b"transcript")
    assert message.text == "all"
    assert tg.calls("sendDocument")[0].files["document"] == ("t.txt", b"transcript")

    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_document(chat["id"], b"x", filename="t.txt", caption="c" * 1025)


# ---------------------------------------------------------------------- replies


async def test_reply_to_missing_message_fails(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(chat["id"], "x", reply_parameters=ReplyParameters(message_id=99))

    note = tg.send_text(chat, alice, "hello")
    tg.delete_message(chat["id"], note["message_id"])
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(chat["id"], "x", reply_to_message_id=note["message_id"])


async def test_reply_without_target_when_allowed(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    sent = await bot.send_message(
        chat["id"],
        "x",
        reply_parameters=ReplyParameters(message_id=99, allow_sending_without_reply=True),
    )
    assert sent.reply_to_message is None
    assert tg.bot_messages(chat["id"])[0].reply_to_message_id is None


async def test_reply_in_forum_topic(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    group = tg.group_chat(GROUP_ID, is_forum=True)
    voice = tg.send_voice(group, alice, b"OggS", duration=3, message_thread_id=7)

    sent = await bot.send_message(
        GROUP_ID, "transcript", reply_parameters=ReplyParameters(voice["message_id"])
    )

    assert sent.reply_to_message is not None
    assert sent.reply_to_message.voice is not None
    assert sent.message_thread_id == 7 and sent.is_topic_message
    [reply] = tg.replies_to(GROUP_ID, voice["message_id"])
    assert reply.message_thread_id == 7


# ---------------------------------------------------------------------- edits and deletes


async def test_edit_message_text(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    chat = tg.private_chat(alice)
    status = await bot.send_message(chat["id"], "working…")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("SRT", callback_data="srt")]])

    edited = await bot.edit_message_text(
        "<b>done</b>", chat["id"], status.message_id, parse_mode="HTML", reply_markup=markup
    )

    assert isinstance(edited, type(status)) and edited.text == "done"
    [message] = tg.bot_messages(chat["id"])
    assert (message.text, message.edits) == ("done", 1)
    assert message.reply_markup == markup.to_dict()
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<b>done</b>", chat["id"], status.message_id, parse_mode="HTML", reply_markup=markup
        )
    user_message = tg.send_text(chat, alice, "mine")
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat["id"], user_message["message_id"])
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat["id"], 999)


async def test_delete_message(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    chat = tg.private_chat(alice)
    sent = await bot.send_message(chat["id"], "bye")
    assert await bot.delete_message(chat["id"], sent.message_id)
    assert tg.bot_messages(chat["id"]) == []
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(chat["id"], sent.message_id)


# ---------------------------------------------------------------------- files


async def test_get_file_too_big(tg: FakeTelegram, bot: Bot) -> None:
    declared = tg.add_file(b"small", file_size=25 * 1024 * 1024)
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(declared["file_id"])


async def test_download_file(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    chat = tg.private_chat(alice)
    data = bytes(range(256)) * 1000
    voice = tg.send_voice(chat, alice, data, duration=4)["voice"]

    file = await bot.get_file(voice["file_id"])
    content = await file.download_as_bytearray()

    assert bytes(content) == data
    assert file.file_size == len(data)
    assert file.file_path == f"{tg.api_url}/file/bot{TOKEN}/voice/file_1.oga"
    assert tg.downloads == ["voice/file_1.oga"]


async def test_download_fault_and_unknown_path(tg: FakeTelegram, bot: Bot) -> None:
    stored = tg.add_file(b"abc")
    file = await bot.get_file(stored["file_id"])
    tg.fail_download(stored["file_id"], status=502)
    async with httpx.AsyncClient() as client:
        failed = await client.get(file.file_path or "")
        ok = await client.get(file.file_path or "")
        missing = await client.get(f"{tg.api_url}/file/bot{TOKEN}/documents/nope")
    assert (failed.status_code, ok.status_code, ok.content) == (502, 200, b"abc")
    assert missing.status_code == 404


async def test_local_mode_gives_absolute_paths(alice: dict[str, Any], tmp_path: Path) -> None:
    async with FakeTelegram(local_mode=True) as tg, make_bot(tg, local_mode=True) as bot:
        chat = tg.private_chat(alice)
        voice = tg.send_voice(chat, alice, b"big", duration=1, file_size=30 * 1024 * 1024)
        file = await bot.get_file(voice["voice"]["file_id"])
        assert file.file_path is not None and Path(file.file_path).is_absolute()
        assert bytes(await file.download_as_bytearray()) == b"big"
        assert tg.downloads == []

        local = tmp_path / "transcript.txt"
        local.write_bytes(b"from disk")
        await bot.send_document(chat["id"], local)
        assert tg.bot_messages(chat["id"])[0].document == ("transcript.txt", b"from disk")


# ---------------------------------------------------------------------- protocol


async def test_unknown_method_and_wrong_token(tg: FakeTelegram) -> None:
    async with httpx.AsyncClient(base_url=tg.api_url) as client:
        unknown = await client.post(f"/bot{TOKEN}/sendTelepathy", data={"chat_id": "1"})
        wrong = await client.post("/bot1:wrong/getMe")
        case = await client.get(f"/bot{TOKEN}/GETME")
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert wrong.status_code == 401
    assert wrong.json()["description"] == "Unauthorized"
    assert case.json()["result"]["username"] == "voxgram_test_bot"
    assert [r.method for r in tg.requests] == ["sendTelepathy", "getMe", "getMe"]


async def test_wrong_token_with_real_bot(tg: FakeTelegram) -> None:
    bot = Bot("1:wrong", base_url=f"{tg.api_url}/bot")
    with pytest.raises(InvalidToken):
        await bot.initialize()


async def test_missing_required_field(tg: FakeTelegram, alice: dict[str, Any]) -> None:
    chat = tg.private_chat(alice)
    async with httpx.AsyncClient(base_url=f"{tg.api_url}/bot{TOKEN}") as client:
        no_text = await client.post("/sendMessage", data={"chat_id": str(chat["id"])})
        no_file = await client.post("/getFile", data={})
        as_json = await client.post("/sendMessage", json={"chat_id": chat["id"], "text": "hi"})
        unimplemented = await client.post("/sendDice", data={"chat_id": str(chat["id"])})
    assert no_text.status_code == 400
    assert no_text.json()["description"] == "Bad Request: message text is empty"
    assert no_file.json()["description"] == 'Bad Request: parameter "file_id" is required'
    assert as_json.json()["result"]["text"] == "hi"
    assert unimplemented.status_code == 500
    assert "lacks sendDice" in unimplemented.json()["description"]


async def test_params_are_decoded_per_field(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    await bot.send_message(
        chat["id"],
        "123",
        disable_notification=True,
        reply_parameters=ReplyParameters(message_id=5, allow_sending_without_reply=True),
    )
    params = tg.calls("sendMessage")[0].params
    assert params["chat_id"] == chat["id"]
    assert params["text"] == "123"
    assert params["disable_notification"] is True
    assert params["reply_parameters"] == {"message_id": 5, "allow_sending_without_reply": True}


# ---------------------------------------------------------------------- updates


async def test_get_updates_returns_pushed_updates(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    command = tg.send_text(chat, alice, "/start")
    voice = tg.send_voice(chat, alice, b"OggS", duration=7, file_size=1234)

    updates = await bot.get_updates(timeout=0)

    assert [u.update_id for u in updates] == [1, 2]
    assert updates[0].message is not None and updates[0].message.text == "/start"
    assert updates[0].message.entities[0].type == "bot_command"
    message = updates[1].message
    assert message is not None and message.voice is not None
    assert message.voice.duration in (7, dt.timedelta(seconds=7))
    assert message.voice.file_size == 1234
    assert message.message_id == voice["message_id"] == command["message_id"] + 1
    parsed = Update.de_json({"update_id": 9, "message": voice}, bot)
    assert parsed.message is not None and parsed.message.voice is not None

    assert [u.update_id for u in await bot.get_updates(offset=2, timeout=0)] == [2]
    assert await bot.get_updates(offset=3, timeout=0) == ()


async def test_long_poll_wakes_on_push(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    chat = tg.private_chat(alice)
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await tg.wait_for(lambda: tg.calls("getUpdates"))
    tg.send_text(chat, alice, "hello")
    updates = await poll
    assert len(updates) == 1 and time.monotonic() - started < 5

    started = time.monotonic()
    assert await bot.get_updates(offset=2, timeout=1) == ()
    assert time.monotonic() - started >= 0.9


async def test_allowed_updates_filter(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    chat = tg.private_chat(alice)
    tg.send_text(chat, alice, "hi")
    tg.push_update(callback_query={"id": "cb1", "from": alice, "chat_instance": "1", "data": "x"})
    updates = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    assert [u.update_id for u in updates] == [2]
    assert await bot.answer_callback_query("cb1", text="ok")
    assert tg.callback_answers["cb1"]["text"] == "ok"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("cb1")  # answered once only
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("nope")


async def test_pressing_a_button_sends_its_data_with_the_message(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("SRT", callback_data="srt:1")]])
    sent = await bot.send_message(chat["id"], "transcript", reply_markup=markup)
    with pytest.raises(ValueError, match="no button"):
        tg.press(chat["id"], sent.message_id, alice, "txt:1")
    query_id = tg.press(chat["id"], sent.message_id, alice, "srt:1")
    (update,) = await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    query = update.callback_query
    assert query is not None and query.id == query_id and query.data == "srt:1"
    assert query.from_user.id == alice["id"]
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query_id)


async def test_a_press_can_carry_the_message_as_inaccessible(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
    sent = await bot.send_message(chat["id"], "question", reply_markup=markup)
    tg.press(chat["id"], sent.message_id, alice, "ok", inaccessible=True)
    async with httpx.AsyncClient(base_url=f"{tg.api_url}/bot{TOKEN}") as client:
        answer = await client.post("/getUpdates", json={"timeout": 0})
    (raw,) = answer.json()["result"]
    # The InaccessibleMessage of the spec: chat, message_id and a date of 0, nothing else.
    assert raw["callback_query"]["message"] == {
        "chat": chat,
        "message_id": sent.message_id,
        "date": 0,
    }
    update = Update.de_json(raw, bot)
    assert update.callback_query is not None
    message = update.callback_query.message
    # python-telegram-bot 22 reads it as a Message whose date is ZERO_DATE.
    assert message is not None and not message.is_accessible
    assert (message.chat.id, message.message_id) == (chat["id"], sent.message_id)


async def test_webhook_info(tg: FakeTelegram, bot: Bot) -> None:
    assert await bot.set_webhook("https://example.com/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.com/hook"
    assert tg.webhook["secret_token"] == "s3cret"
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert (await bot.get_webhook_info()).url == ""


# ---------------------------------------------------------------------- faults and limits


async def test_fail_next_429_gives_retry_after(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    tg.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 3", retry_after=3
    )
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(chat["id"], "x")
    assert caught.value.retry_after in (3, dt.timedelta(seconds=3))
    assert tg.count_429 == 1
    await bot.send_message(chat["id"], "x")
    assert len(tg.calls("sendMessage")) == 2

    tg.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user", times=2
    )
    for _ in range(2):
        with pytest.raises(Forbidden, match=r"(?i)blocked"):
            await bot.send_message(chat["id"], "x")


async def test_stop_answering_holds_requests_until_answer_again(tg: FakeTelegram, bot: Bot) -> None:
    tg.stop_answering()
    held = asyncio.create_task(bot.get_webhook_info())
    await tg.wait_for(lambda: tg.calls("getWebhookInfo"))
    done, _ = await asyncio.wait({held}, timeout=0.3)
    assert not done
    tg.answer_again()
    assert (await asyncio.wait_for(held, timeout=10)).url == ""
    assert len(tg.calls("getWebhookInfo")) == 1


async def test_group_limit_answers_429(alice: dict[str, Any]) -> None:
    async with FakeTelegram(group_limit_per_minute=3) as tg, make_bot(tg) as bot:
        tg.group_chat(GROUP_ID)
        for _ in range(3):
            await bot.send_message(GROUP_ID, "x")
        with pytest.raises(RetryAfter):
            await bot.send_message(GROUP_ID, "x")
        await bot.edit_message_text("y", GROUP_ID, 1)
        assert tg.count_429 == 1
        assert len(tg.bot_messages(GROUP_ID)) == 3
        private = tg.private_chat(alice)
        for _ in range(5):
            await bot.send_message(private["id"], "x")


async def test_private_pacing_answers_429_with_retry_after(alice: dict[str, Any]) -> None:
    async with FakeTelegram(private_pacing=1.0) as tg, make_bot(tg) as bot:
        chat = tg.private_chat(alice)
        sent = await bot.send_message(chat["id"], "x")
        with pytest.raises(RetryAfter) as caught:
            await bot.edit_message_text("y", chat["id"], sent.message_id)
        assert caught.value.retry_after in (1, dt.timedelta(seconds=1))
        await asyncio.sleep(1.0)
        await bot.edit_message_text("y", chat["id"], sent.message_id)
        assert tg.count_429 == 1
        tg.group_chat(GROUP_ID)
        for _ in range(3):
            await bot.send_message(GROUP_ID, "x")  # groups are not paced by it


async def test_fail_next_for_one_chat(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    chat = tg.private_chat(alice)
    other = tg.private_chat(tg.user(1002, "Bob"))
    tg.fail_next("sendMessage", status=502, description="Bad Gateway", chat_id=chat["id"])
    await bot.send_message(other["id"], "x")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.send_message(chat["id"], "x")
    await bot.send_message(chat["id"], "x")


async def test_drop_next_closes_the_connection_unanswered(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    tg.drop_next("sendMessage")
    with pytest.raises(NetworkError):
        await bot.send_message(chat["id"], "x")
    assert tg.bot_messages(chat["id"]) == []
    await bot.send_message(chat["id"], "x")
    assert len(tg.calls("sendMessage")) == 2


async def test_hang_next_leaves_the_call_to_the_client_timeout(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    tg.hang_next("sendMessage")
    with pytest.raises(TimedOut):
        await bot.send_message(chat["id"], "x", read_timeout=0.3)
    assert tg.bot_messages(chat["id"]) == []
    await bot.send_message(chat["id"], "x")
    assert len(tg.calls("sendMessage")) == 2


async def test_chat_members(tg: FakeTelegram, bot: Bot, alice: dict[str, Any]) -> None:
    tg.group_chat(GROUP_ID)
    tg.set_admins(GROUP_ID, [alice["id"], tg.bot_user["id"]])
    member = await bot.get_chat_member(GROUP_ID, alice["id"])
    assert isinstance(member, ChatMemberAdministrator)
    other = await bot.get_chat_member(GROUP_ID, 555)
    assert isinstance(other, ChatMemberMember)
    admins = await bot.get_chat_administrators(GROUP_ID)
    assert {a.user.id for a in admins} == {alice["id"], tg.bot_user["id"]}
    await bot.send_chat_action(GROUP_ID, "typing")
    assert await bot.set_my_commands([("usage", "Seconds used and left")])
    assert [c.command for c in await bot.get_my_commands()] == ["usage"]


async def test_wait_for_times_out_listing_requests(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(AssertionError, match="getMe"):
        await tg.wait_for(lambda: tg.calls("sendMessage"), timeout=0.1)


async def test_real_application_polls_and_replies(tg: FakeTelegram, alice: dict[str, Any]) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html("<b>Hi</b> there", do_quote=True)

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{tg.api_url}/bot")
        .base_file_url(f"{tg.api_url}/file/bot")
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    chat = tg.private_chat(alice)
    command = tg.send_text(chat, alice, "/start")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=10)
        [reply] = await tg.wait_for(lambda: tg.replies_to(chat["id"], command["message_id"]))
        await app.updater.stop()
        await app.stop()
    assert reply.text == "Hi there"
    assert tg.calls("deleteWebhook")


async def test_send_message_draft_as_the_spec_says(
    tg: FakeTelegram, bot: Bot, alice: dict[str, Any]
) -> None:
    chat = tg.private_chat(alice)
    tg.group_chat(GROUP_ID)
    assert await bot.send_message_draft(chat["id"], 7, "") is True  # the "Thinking..." placeholder
    assert await bot.send_message_draft(
        chat["id"], 7, "0:01 a &lt;b&gt;", parse_mode=ParseMode.HTML
    )
    assert [(d.draft_id, d.text) for d in tg.drafts_in(chat["id"])] == [(7, ""), (7, "0:01 a <b>")]
    assert tg.drafts[0].at <= tg.drafts[1].at
    with pytest.raises(BadRequest):
        await bot.send_message_draft(GROUP_ID, 7, "private chats only")
    with pytest.raises(BadRequest):
        await bot.send_message_draft(chat["id"], 0, "draft_id must be non-zero")
    with pytest.raises(BadRequest):
        await bot.send_message_draft(chat["id"], 7, "x" * 4097)
    assert len(tg.drafts) == 2
    assert tg.bot_messages(chat["id"]) == []  # a draft is no message
