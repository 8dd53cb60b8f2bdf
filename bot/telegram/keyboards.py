"""Buttons: the .srt/.txt buttons under a retained transcript, and reading their presses."""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import texts

# Callback data of the buttons: "srt:<transcript id>" or "txt:<transcript id>" (64 bytes max).
CALLBACK_PATTERN = re.compile(r"^(srt|txt):(\d{1,18})$")


def transcript_buttons(transcript_id: int, t: texts.Texts) -> InlineKeyboardMarkup:
    """The buttons under a retained transcript."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(texts.BUTTON_SRT), callback_data=f"srt:{transcript_id}"),
                InlineKeyboardButton(t(texts.BUTTON_TXT), callback_data=f"txt:{transcript_id}"),
            ]
        ]
    )


def parse_transcript_button(data: str | None) -> tuple[str, int] | None:
    """(kind, transcript id) of a button's callback data, or None if it is not ours."""
    match = CALLBACK_PATTERN.match(data or "")
    return None if match is None else (match[1], int(match[2]))
