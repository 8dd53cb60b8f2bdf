"""Buttons and their callback data, sealed so that a press counts only where the bot put it.

Telegram lets a client send any callback data with a press on any of the bot's messages, not
only data of a button the message has. So each button's data carries a MAC (HMAC-SHA256 with
a key derived from the bot token, cut to 128 bits) over the chat, an anchor message, its kind
and payload. The anchor is a message the press names itself: what the button's message
replies to (a transcript replies to its note; continuations to the first part), or the
button's own message when that must also work on an InaccessibleMessage, which carries no
reply (the /forgetme question). Data that does not verify on the pressed message is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MaybeInaccessibleMessage, Message

from bot.i18n import texts

KEY_LABEL = b"voxgram-buttons"
MAC_BYTES = 16
"""Callback data is at most 64 bytes; 128 bits of MAC are 22 of them in base64url."""

_MAC = r"[A-Za-z0-9_-]{22}"
TRANSCRIPT_PATTERN = re.compile(rf"(srt|txt):([0-9]{{1,19}}):({_MAC})")
"""Callback data of the file buttons under a retained transcript: kind, transcript id, MAC."""
DIGEST_PATTERN = re.compile(rf"(sum|tr):([0-9]{{1,19}}):({_MAC})")
"""Callback data of the Summary and Translate buttons: kind, transcript id, MAC."""
FORGET_PATTERN = re.compile(rf"forget:((?:yes|no):[0-9]{{1,19}}):({_MAC})")
"""Callback data of the /forgetme buttons: the choice and the asker's user id, MAC."""


def _key(token: str) -> bytes:
    return hmac.new(token.encode(), KEY_LABEL, hashlib.sha256).digest()


def _mac(token: str, chat_id: int, anchor: int, kind: str, payload: str) -> str:
    signed = f"{chat_id}|{anchor}|{kind}|{payload}".encode()
    digest = hmac.new(_key(token), signed, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def seal(token: str, *, chat_id: int, anchor: int, kind: str, payload: str) -> str:
    """Callback data for a button of `kind` with `payload`, valid only on `anchor` in `chat_id`."""
    return f"{kind}:{payload}:{_mac(token, chat_id, anchor, kind, payload)}"


def verified(
    token: str, mac: str, *, chat_id: int, anchor: int | None, kind: str, payload: str
) -> bool:
    """Whether `mac` was made for this chat, anchor, kind and payload (constant time)."""
    if anchor is None:
        return False
    return hmac.compare_digest(mac, _mac(token, chat_id, anchor, kind, payload))


def replied_id(message: MaybeInaccessibleMessage | None) -> int | None:
    """The id of the message a pressed message replies to; None when the press does not say
    (no reply, or the message came as an InaccessibleMessage)."""
    if isinstance(message, Message) and message.reply_to_message is not None:
        return message.reply_to_message.message_id
    return None


def transcript_buttons(
    token: str, *, chat_id: int, reply_to: int, transcript_id: int, t: texts.Texts
) -> InlineKeyboardMarkup:
    """The buttons under a retained transcript, for a message in `chat_id` replying to
    `reply_to`."""

    def button(label: str, kind: str) -> InlineKeyboardButton:
        data = seal(token, chat_id=chat_id, anchor=reply_to, kind=kind, payload=str(transcript_id))
        return InlineKeyboardButton(t(label), callback_data=data)

    return InlineKeyboardMarkup(
        [
            [button(texts.BUTTON_SRT, "srt"), button(texts.BUTTON_TXT, "txt")],
            [button(texts.BUTTON_SUMMARY, "sum"), button(texts.BUTTON_TRANSLATE, "tr")],
        ]
    )


def pressed_transcript_button(
    token: str,
    data: str | None,
    message: MaybeInaccessibleMessage | None,
    pattern: re.Pattern[str] = TRANSCRIPT_PATTERN,
) -> tuple[str, int] | None:
    """(kind, transcript id) of a press on a transcript button (of `pattern`), or None unless
    the data was made for the pressed message."""
    match = pattern.fullmatch(data or "")
    if match is None or message is None:
        return None
    kind, payload, mac = match[1], match[2], match[3]
    anchor = replied_id(message)
    if not verified(token, mac, chat_id=message.chat.id, anchor=anchor, kind=kind, payload=payload):
        return None
    return kind, int(payload)


def forget_buttons(
    token: str, *, chat_id: int, question_id: int, user_id: int, t: texts.Texts
) -> InlineKeyboardMarkup:
    """Delete and Cancel under the /forgetme question `question_id`, answerable by `user_id`."""

    def button(label: str, choice: str) -> InlineKeyboardButton:
        payload = f"{choice}:{user_id}"
        data = seal(token, chat_id=chat_id, anchor=question_id, kind="forget", payload=payload)
        return InlineKeyboardButton(t(label), callback_data=data)

    return InlineKeyboardMarkup([[button(texts.FORGET_YES, "yes"), button(texts.FORGET_NO, "no")]])


def pressed_forget_button(
    token: str, data: str | None, message: MaybeInaccessibleMessage | None
) -> tuple[bool, int] | None:
    """(delete?, the asker's user id) of a press on a /forgetme button, or None unless the data
    was made for the pressed message."""
    match = FORGET_PATTERN.fullmatch(data or "")
    if match is None or message is None:
        return None
    payload, mac = match[1], match[2]
    chat_id, anchor = message.chat.id, message.message_id
    if not verified(token, mac, chat_id=chat_id, anchor=anchor, kind="forget", payload=payload):
        return None
    choice, user_id = payload.split(":")
    return choice == "yes", int(user_id)


WHOLE_PATTERN = re.compile(rf"w([0-9]{{1,19}})_({_MAC})")
"""A /start parameter asking for a whole transcript: its id and a MAC binding it to one user."""


def whole_link_payload(token: str, *, user_id: int, transcript_id: int) -> str:
    """The deep-link parameter that gives `user_id`, and nobody else, transcript `transcript_id`
    in private (64 characters at most of A-Z a-z 0-9 _ -, as /start parameters allow)."""
    mac = _mac(token, user_id, 0, "whole", str(transcript_id))
    return f"w{transcript_id}_{mac}"


def whole_link_opened(token: str, payload: str, *, user_id: int) -> int | None:
    """The transcript id of a deep-link parameter made for `user_id`; None for anything else."""
    match = WHOLE_PATTERN.fullmatch(payload)
    if match is None:
        return None
    transcript_id, mac = match[1], match[2]
    if not verified(token, mac, chat_id=user_id, anchor=0, kind="whole", payload=transcript_id):
        return None
    return int(transcript_id)
