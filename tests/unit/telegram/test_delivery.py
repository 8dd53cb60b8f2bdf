"""TelegramDelivery against an in-process bot: what a chat sees of a job's outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any, cast

import pytest
from telegram import Bot, InlineKeyboardMarkup, InputFile, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.domain.jobs import Trigger
from bot.domain.transcript import Segment, Transcript
from bot.i18n import texts
from bot.jobs.ports import DeliveryRefused
from bot.telegram import render
from bot.telegram.delivery import MAX_MESSAGES, TelegramDelivery
from bot.telegram.pacing import Courtesy, Priority
from bot.telegram.status import StatusBoard
from storage.job_rows import Job

CHAT = 42
GROUP = -100500
NOTE = 7
STATUS = 50
KEPT = 9
CREATED_AT = 1_795_615_320  # 2026-11-25 14:02 UTC

en = texts.of("en")


@dataclass
class Call:
    """One Bot API call as the fake bot saw it."""

    method: str
    chat_id: int
    text: str | None = None
    message_id: int | None = None
    """The message edited or deleted."""
    reply_to: int | None = None
    buttons: list[str] | None = None
    """Callback data of the inline buttons, if any."""
    thread_id: int | None = None
    parse_mode: str | None = None
    file_name: str | None = None
    file_data: bytes | None = None
    pace: object = field(default=None, compare=False)
    """The call's rate_limit_args: its priority at the bot's pacing."""


def _buttons(markup: InlineKeyboardMarkup | None) -> list[str] | None:
    """Each button's kind and transcript id; its MAC (tested end to end) is left out."""
    if markup is None:
        return None
    return [str(b.callback_data).rsplit(":", 1)[0] for row in markup.inline_keyboard for b in row]


def _reply_to(parameters: ReplyParameters | None) -> int | None:
    return None if parameters is None else parameters.message_id


class FakeBot:
    """The four Bot methods TelegramDelivery uses, recording each call; errors on demand.
    `token` keys the buttons' MACs."""

    token = "123456:unit-test-token"

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._next_id = 1000
        self.send_error: TelegramError | None = None
        self.edit_error: TelegramError | None = None
        self.delete_error: TelegramError | None = None

    def _message(self) -> SimpleNamespace:
        self._next_id += 1
        return SimpleNamespace(message_id=self._next_id)

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = None,
        message_thread_id: int | None = None,
        reply_parameters: ReplyParameters | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
        rate_limit_args: object = None,
    ) -> SimpleNamespace:
        if self.send_error is not None:
            raise self.send_error
        message = self._message()
        self.calls.append(
            Call(
                "send_message",
                chat_id,
                text=text,
                message_id=message.message_id,
                reply_to=_reply_to(reply_parameters),
                buttons=_buttons(reply_markup),
                thread_id=message_thread_id,
                parse_mode=parse_mode,
                pace=rate_limit_args,
            )
        )
        return message

    async def edit_message_text(
        self,
        text: str,
        *,
        chat_id: int,
        message_id: int,
        parse_mode: str | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
        rate_limit_args: object = None,
    ) -> bool:
        if self.edit_error is not None:
            raise self.edit_error
        self.calls.append(
            Call(
                "edit_message_text",
                chat_id,
                text=text,
                message_id=message_id,
                buttons=_buttons(reply_markup),
                parse_mode=parse_mode,
                pace=rate_limit_args,
            )
        )
        return True

    async def send_document(
        self,
        chat_id: int,
        document: InputFile,
        *,
        message_thread_id: int | None = None,
        reply_parameters: ReplyParameters | None = None,
        rate_limit_args: object = None,
    ) -> SimpleNamespace:
        message = self._message()
        self.calls.append(
            Call(
                "send_document",
                chat_id,
                message_id=message.message_id,
                reply_to=_reply_to(reply_parameters),
                thread_id=message_thread_id,
                file_name=document.filename,
                file_data=cast(bytes, document.input_file_content),
                pace=rate_limit_args,
            )
        )
        return message

    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        if self.delete_error is not None:
            raise self.delete_error
        self.calls.append(Call("delete_message", chat_id, message_id=message_id))
        return True

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]


@pytest.fixture
def bot() -> FakeBot:
    return FakeBot()


@pytest.fixture
def board() -> StatusBoard:
    return StatusBoard()


@pytest.fixture
def delivery(bot: FakeBot, board: StatusBoard) -> TelegramDelivery:
    return TelegramDelivery(cast(Bot, bot), board, progress_every=0.0)


def job(**changes: Any) -> Job:
    """A running job of a voice note in a private chat whose status message is STATUS."""
    base = Job(
        chat_id=CHAT,
        message_id=NOTE,
        chat_type="private",
        thread_id=None,
        payer_id=CHAT,
        author_id=CHAT,
        trigger=Trigger.PRIVATE,
        kind="voice",
        file_id="file",
        file_size=1000,
        file_name=None,
        declared_seconds=3,
        header=None,
        language=None,
        user_language="en",
        period="2026-11",
        id=1,
        reserved_seconds=3,
        billed_seconds=3,
        status="running",
        error=None,
        status_message_id=STATUS,
        attempts=1,
        created_at=CREATED_AT,
    )
    return replace(base, **changes)


def in_group(trigger: Trigger = Trigger.AUTO, **changes: Any) -> Job:
    return job(chat_id=GROUP, chat_type="supergroup", trigger=trigger, **changes)


def transcript(lines: int, words_per_line: int = 1) -> Transcript:
    """`lines` segments, a second apart; about 1000 characters each with 200 words a line."""
    segments = tuple(
        Segment(float(n), n + 0.9, " ".join(f"w{n}x{k}" for k in range(words_per_line)))
        for n in range(lines)
    )
    return Transcript(segments=segments, billed_seconds=lines)


def in_messages(t: Transcript, **kw: Any) -> list[str]:
    return render.render_messages(t, **kw)


BUTTONS = [f"srt:{KEPT}", f"txt:{KEPT}", f"sum:{KEPT}", f"tr:{KEPT}"]
ONE = transcript(2)
TWO = transcript(6, 160)
THREE = transcript(10, 160)
MANY = transcript(30, 160)


def test_the_sizes_the_tests_rely_on() -> None:
    assert len(in_messages(ONE)) == 1
    assert len(in_messages(TWO)) == 2
    assert len(in_messages(THREE)) == MAX_MESSAGES == 3
    assert len(in_messages(MANY)) > MAX_MESSAGES


# Delivered


async def test_the_status_message_becomes_the_transcript_with_its_buttons(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.deliver(job(), ONE, KEPT)

    assert bot.calls == [
        Call(
            "edit_message_text",
            CHAT,
            text="0:00 w0x0\n0:01 w1x0",
            message_id=STATUS,
            buttons=BUTTONS,
            parse_mode=ParseMode.HTML,
        )
    ]


async def test_without_a_retained_id_there_are_no_buttons(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.deliver(job(), ONE, None)

    [edit] = bot.calls
    assert edit.buttons is None


async def test_the_transcript_is_escaped_for_html(bot: FakeBot, delivery: TelegramDelivery) -> None:
    tricky = Transcript(segments=(Segment(0, 1, "if a<b && c>d </i>"),))

    await delivery.deliver(job(header="Forwarded from <Bob>"), tricky, None)

    [edit] = bot.calls
    assert (
        edit.text
        == "<i>Forwarded from &lt;Bob&gt;</i>\n0:00 if a&lt;b &amp;&amp; c&gt;d &lt;/i&gt;"
    )


async def test_a_second_part_replies_to_the_first_and_carries_the_buttons(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.deliver(job(), TWO, KEPT)

    first, second = in_messages(TWO)
    assert [(c.method, c.text, c.message_id, c.reply_to, c.buttons) for c in bot.calls] == [
        ("edit_message_text", first, STATUS, None, None),
        ("send_message", second, bot.calls[1].message_id, STATUS, BUTTONS),
    ]


async def test_three_parts_all_reply_to_the_first_and_buttons_go_under_the_last(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.deliver(job(), THREE, KEPT)

    assert bot.methods() == ["edit_message_text", "send_message", "send_message"]
    assert [c.text for c in bot.calls] == in_messages(THREE)
    assert [c.reply_to for c in bot.calls[1:]] == [STATUS, STATUS]
    assert [c.buttons for c in bot.calls] == [None, None, BUTTONS]


async def test_without_a_status_message_the_transcript_replies_to_the_note(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.deliver(job(status_message_id=None), TWO, KEPT)

    first, second = bot.calls
    assert (first.method, first.reply_to, first.buttons) == ("send_message", NOTE, None)
    assert (second.method, second.buttons) == ("send_message", BUTTONS)
    assert second.reply_to == first.message_id


async def test_past_three_messages_a_preview_and_the_whole_as_a_txt_file(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.deliver(job(), MANY, KEPT)

    preview, document = bot.calls
    assert (preview.method, preview.message_id, preview.buttons) == (
        "edit_message_text",
        STATUS,
        BUTTONS,
    )
    assert preview.text is not None
    assert preview.text.startswith("0:00 w0x0 w0x1")
    assert preview.text.endswith("\n" + en(texts.SEE_FILE))
    assert render.utf16_len(preview.text) <= 4096
    assert (document.method, document.reply_to) == ("send_document", STATUS)
    assert document.file_name == "transcript-2026-11-25-1402.txt"
    assert document.file_data == render.render_plain(MANY).encode()
    assert document.file_data.decode().count("\n") == 30


async def test_the_file_goes_to_the_notes_topic(bot: FakeBot, delivery: TelegramDelivery) -> None:
    await delivery.deliver(in_group(status_message_id=None, thread_id=77), MANY, KEPT)

    assert [(c.method, c.thread_id) for c in bot.calls] == [
        ("send_message", 77),
        ("send_document", 77),
    ]
    assert bot.calls[1].reply_to == bot.calls[0].message_id


async def test_nothing_heard_is_said_in_the_payers_language(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.deliver(job(user_language="de"), None, None)

    [edit] = bot.calls
    assert edit.text == texts.of("de")(texts.NO_SPEECH)
    assert edit.text != en(texts.NO_SPEECH)
    assert edit.buttons is None


async def test_a_status_message_that_cannot_be_edited_is_replaced_by_a_new_reply(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    bot.edit_error = BadRequest("Bad Request: message to edit not found")

    await delivery.deliver(job(), TWO, KEPT)

    first, second = bot.calls
    assert (first.method, first.text, first.reply_to) == ("send_message", in_messages(TWO)[0], NOTE)
    assert (second.reply_to, second.buttons) == (first.message_id, BUTTONS)


async def test_an_unmodified_status_message_counts_as_edited(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    bot.edit_error = BadRequest("Bad Request: message is not modified")

    await delivery.deliver(job(), TWO, KEPT)

    [second] = bot.calls
    assert (second.method, second.reply_to) == ("send_message", STATUS)


async def test_the_transcript_waits_for_a_status_message_on_its_way(
    bot: FakeBot, board: StatusBoard, delivery: TelegramDelivery
) -> None:
    # The job was queued before its status message was out: the id comes from the board.
    board.expect(1)
    board.sent(1, 88)

    await delivery.deliver(job(status_message_id=None), ONE, KEPT)

    [edit] = bot.calls
    assert (edit.method, edit.message_id) == ("edit_message_text", 88)


async def test_a_status_message_that_could_not_be_sent_leads_to_a_new_reply(
    bot: FakeBot, board: StatusBoard, delivery: TelegramDelivery
) -> None:
    board.expect(1)
    board.sent(1, None)

    await delivery.deliver(job(status_message_id=None), ONE, KEPT)

    [sent] = bot.calls
    assert (sent.method, sent.reply_to, sent.buttons) == ("send_message", NOTE, BUTTONS)


async def test_a_status_message_not_yet_on_its_way_is_withdrawn_for_the_transcript(
    bot: FakeBot, board: StatusBoard, delivery: TelegramDelivery
) -> None:
    board.expect(1)  # the status message still waits for its turn

    await delivery.deliver(job(status_message_id=None), ONE, KEPT)

    [sent] = bot.calls
    assert (sent.method, sent.reply_to, sent.buttons) == ("send_message", NOTE, BUTTONS)
    assert board.courtesy(1).skipped == "withdrawn"


async def test_a_refusal_withdraws_a_status_message_not_yet_on_its_way(
    bot: FakeBot, board: StatusBoard, delivery: TelegramDelivery
) -> None:
    board.expect(1)

    await delivery.report(job(status_message_id=None), "No.")

    [sent] = bot.calls
    assert (sent.method, sent.reply_to, sent.text, sent.pace) == ("send_message", NOTE, "No.", None)
    assert board.courtesy(1).skipped == "withdrawn"


async def test_every_part_of_a_transcript_and_its_file_go_first(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.deliver(job(), THREE, KEPT)
    await delivery.deliver(job(id=2), MANY, KEPT)

    assert len(bot.calls) == 5
    assert {c.pace for c in bot.calls} == {Priority.TRANSCRIPT}


async def test_a_bot_the_user_blocked_logs_and_does_not_raise(
    bot: FakeBot, delivery: TelegramDelivery, caplog: pytest.LogCaptureFixture
) -> None:
    bot.send_error = Forbidden("Forbidden: bot was blocked by the user")
    caplog.set_level(logging.INFO, logger="bot.telegram.delivery")

    with pytest.raises(DeliveryRefused) as refused:
        await delivery.deliver(job(status_message_id=None), ONE, KEPT)

    assert refused.value.gone
    assert bot.calls == []


async def test_a_refused_reply_is_logged_without_the_transcript_text(
    bot: FakeBot, delivery: TelegramDelivery, caplog: pytest.LogCaptureFixture
) -> None:
    secret = Transcript(segments=(Segment(0, 1, "my secret words"),))
    bot.send_error = BadRequest("Bad Request: can't parse entities: my secret words")
    caplog.set_level(logging.INFO, logger="bot.telegram.delivery")

    with pytest.raises(DeliveryRefused) as refused:
        await delivery.deliver(job(status_message_id=None), secret, None)

    assert "Can't parse entities" in str(refused.value)
    assert "secret" not in str(refused.value)
    assert "secret" not in caplog.text


# Failures reported


async def test_a_failure_is_told_in_the_status_message(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.report(job(), "Too long: 2 h > 1 h <sorry>")

    [edit] = bot.calls
    assert (edit.method, edit.message_id, edit.buttons) == ("edit_message_text", STATUS, None)
    assert edit.text == "Too long: 2 h &gt; 1 h &lt;sorry&gt;"


async def test_a_failure_without_a_status_message_replies_to_the_note(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.report(in_group(Trigger.COMMAND, status_message_id=None), "No.")

    [sent] = bot.calls
    assert (sent.method, sent.chat_id, sent.text, sent.reply_to) == (
        "send_message",
        GROUP,
        "No.",
        NOTE,
    )


async def test_a_failure_whose_status_message_is_gone_is_sent_anew(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    bot.edit_error = BadRequest("Bad Request: message to edit not found")

    await delivery.report(job(), "No.")

    [sent] = bot.calls
    assert (sent.method, sent.text, sent.reply_to) == ("send_message", "No.", NOTE)


async def test_in_auto_mode_a_failure_deletes_the_status_and_says_nothing(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.report(in_group(Trigger.AUTO), "No.")

    assert bot.calls == [Call("delete_message", GROUP, message_id=STATUS)]


async def test_in_auto_mode_without_a_status_message_a_failure_makes_no_call(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    await delivery.report(in_group(Trigger.AUTO, status_message_id=None), "No.")

    assert bot.calls == []


async def test_a_status_message_that_cannot_be_deleted_is_left_quietly(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    bot.delete_error = BadRequest("Bad Request: message can't be deleted")

    await delivery.report(in_group(Trigger.AUTO), "No.")

    assert bot.calls == []


async def test_a_failure_told_to_a_user_who_blocked_the_bot_does_not_raise(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    bot.send_error = Forbidden("Forbidden: bot was blocked by the user")

    await delivery.report(job(status_message_id=None), "No.")

    assert bot.calls == []


async def test_a_failure_whose_status_message_may_not_be_edited_does_not_raise(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    bot.edit_error = Forbidden("Forbidden: bot was blocked by the user")
    bot.send_error = bot.edit_error

    await delivery.report(job(), "No.")

    assert bot.calls == []


# Progress


async def test_a_long_notes_progress_edits_its_status_message(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    progress = delivery.progress(job())

    progress.update(1, 3)
    await progress.settle()
    progress.update(3, 3)  # the transcript itself is the next edit
    await progress.settle()

    [edit] = bot.calls
    assert (edit.method, edit.message_id, edit.text) == (
        "edit_message_text",
        STATUS,
        en.progress(1, 3),
    )
    assert isinstance(edit.pace, Courtesy)
    assert edit.pace.what == "progress job=1"


async def test_auto_mode_shows_no_progress(bot: FakeBot, delivery: TelegramDelivery) -> None:
    progress = delivery.progress(in_group(Trigger.AUTO))

    progress.update(1, 3)
    await progress.settle()

    assert bot.calls == []


async def test_the_batch_notice_is_an_answer_not_a_courtesy_that_may_be_skipped(
    bot: FakeBot, delivery: TelegramDelivery
) -> None:
    """Its transcript may be hours away: the notice must not be dropped as late courtesy."""
    await delivery.announce(job(), "Comes later, at half price.")
    [call] = bot.calls
    assert (call.method, call.message_id, call.text) == (
        "edit_message_text",
        STATUS,
        "Comes later, at half price.",
    )
    assert call.pace == Priority.ANSWER
