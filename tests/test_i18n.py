"""The bot's own words in the user's language, and catalogs that stay complete."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from bot import i18n
from bot.i18n import texts
from tests import media
from tests.conftest import RunBot
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import answer_to, transcript_of

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{(\w*)\}")
TAG = re.compile(r"</?[bi]>|&\w+;")  # the HTML of HELP and ADMIN_HELP


async def test_russian_user_gets_russian_and_portuguese_user_english(
    tg: FakeTelegram, mistral: FakeMistral, run_bot: RunBot
) -> None:
    data, _, total = media.voice_note(2)
    seen: dict[str, dict[str, str]] = {}
    async with run_bot():
        for code in ("ru", "pt", "pt-br"):
            user = tg.user(2100 + len(seen), "Ana", language_code=code)
            chat = tg.private_chat(user)
            note = tg.send_voice(chat, user, data, duration=round(total))
            (reply,) = await tg.wait_for(
                lambda c=chat, n=note: transcript_of(tg, c["id"], n["message_id"])
            )
            (status,) = [
                r.params["text"]
                for r in tg.calls("sendMessage")
                if r.params["chat_id"] == chat["id"]
                and r.params["reply_parameters"]["message_id"] == note["message_id"]
            ]
            broken = tg.send_voice(chat, user, b"\x00not audio at all" * 500, duration=3)
            (error,) = await tg.wait_for(
                lambda c=chat, b=broken: transcript_of(tg, c["id"], b["message_id"])
            )
            document = tg.send_document(
                chat, user, b"%PDF-1.4", file_name="cv.pdf", mime_type="application/pdf"
            )
            refusal = await tg.wait_for(
                lambda c=chat, d=document: answer_to(tg, c["id"], d["message_id"])
            )
            help_cmd = tg.send_text(chat, user, "/help")
            help_answer = await tg.wait_for(
                lambda c=chat, h=help_cmd: answer_to(tg, c["id"], h["message_id"])
            )
            rows = (reply.reply_markup or {}).get("inline_keyboard", [])
            seen[code] = {
                "status": status,
                "unreadable": error.text or "",
                "not_audio": refusal.text or "",
                "help": help_answer.html or "",
                "buttons": " ".join(b["text"] for row in rows for b in row),
            }

    russian = texts.of("ru")
    assert seen["ru"] == {
        "status": "🎧 Расшифровываю…",
        "unreadable": russian(texts.UNREADABLE),
        "not_audio": russian(texts.NOT_AUDIO),
        "help": russian.help(admin=False),
        "buttons": "🎬 Субтитры (.srt) 📄 Текст (.txt) 📝 Кратко 🌐 Перевести",
    }
    assert seen["ru"]["unreadable"].startswith("Не удалось прочитать звук")
    assert "<b>В группах</b>" in seen["ru"]["help"]
    assert (
        seen["pt"]
        == seen["pt-br"]
        == {
            "status": "🎧 Transcribing…",
            "unreadable": texts.UNREADABLE,
            "not_audio": texts.NOT_AUDIO,
            "help": texts.HELP,
            "buttons": "🎬 Subtitles (.srt) 📄 Text (.txt) 📝 Summary 🌐 Translate",
        }
    )
    # The command menu is registered in each language; other languages get the English one.
    assert set(tg.commands) == {
        '{"type": "default"}|',
        '{"type": "default"}|ru',
        '{"type": "default"}|es',
        '{"type": "default"}|de',
    }
    menu = {c["command"]: c["description"] for c in tg.commands['{"type": "default"}|ru']}
    assert menu["language"] == "Язык ваших голосовых сообщений"
    assert list(menu) == list(texts.COMMANDS)
    english = {c["command"]: c["description"] for c in tg.commands['{"type": "default"}|']}
    assert english == texts.COMMANDS


def test_the_template_holds_every_message_of_the_code() -> None:
    method_map = [("bot/**.py", "python"), ("handlers/**.py", "python")]
    in_code = {
        message
        for _, _, message, _, _ in extract_from_dir(
            str(ROOT), method_map, keywords=DEFAULT_KEYWORDS
        )
    }
    with (i18n.LOCALES / "messages.pot").open("rb") as pot:
        template = {m.id for m in read_po(pot) if m.id}
    assert in_code == template, "run `make messages` and translate what is new"


def test_every_catalog_translates_every_message_with_the_same_placeholders() -> None:
    with (i18n.LOCALES / "messages.pot").open("rb") as pot:
        ids = [m.id for m in read_po(pot) if m.id]
    for language in i18n.UI_LANGUAGES[1:]:
        path = i18n.LOCALES / language / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as po:
            catalog = read_po(po, locale=language)
        for msgid in ids:
            message = catalog.get(msgid)
            assert message is not None and message.string, f"{language}: untranslated {msgid!r}"
            assert not message.fuzzy, f"{language}: fuzzy {msgid!r}"
            translated = str(message.string)
            assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(msgid))
            assert sorted(TAG.findall(translated)) == sorted(TAG.findall(msgid)), msgid


def test_ui_language_follows_the_telegram_language_code() -> None:
    assert [i18n.ui_language(c) for c in ("ru", "RU", "ru-RU", "es-419", "de_AT")] == [
        "ru",
        "ru",
        "ru",
        "es",
        "de",
    ]
    assert [i18n.ui_language(c) for c in ("pt", "pt-br", "", None, "zz")] == ["en"] * 5
