"""Every word the bot says to users, in one place (plain text unless a name says HTML)."""

from __future__ import annotations

from datetime import datetime

from bot.languages import LANGUAGES

STATUS = "🎧 Transcribing…"
NO_SPEECH = "🔇 No speech detected."
SEE_FILE = "… The whole transcript is in the file below."
BUTTON_SRT = "🎬 Subtitles (.srt)"
BUTTON_TXT = "📄 Text (.txt)"
EXPIRED = "This transcript is no longer kept, so its files are gone. Send the note again."
FORGET_CONFIRM = (
    "This deletes everything I store about you: the records of your transcribed notes, your "
    "usage history, your settings and the transcripts kept for the file buttons. Messages "
    "already in your chats stay. Delete?"
)
FORGET_YES = "🗑 Yes, delete"
FORGET_NO = "Cancel"
FORGET_CANCELLED = "Nothing was deleted."
FORGET_NOT_YOURS = "Only the person who sent /forgetme can answer this."
FORGET_BUSY = "A note of yours is still being transcribed. Try again when it is done."
NOT_AUDIO = (
    "I can only transcribe voice notes, audio files, video notes and videos. "
    "This file doesn't look like audio."
)
UNREADABLE = "I couldn't read any audio in this file: it may be damaged. Nothing was charged."
DOWNLOAD_FAILED = "I couldn't download this file from Telegram. Please send it again."
SERVICE_BUSY = (
    "The transcription service is busy or unavailable right now, so this note was not "
    "transcribed and nothing was charged. Please send it again in a few minutes."
)
SERVICE_REFUSED = "The transcription service could not process this audio. Nothing was charged."
FAILED = "Sorry, something went wrong with this note. Nothing was charged; please try again."
ALREADY = "This note is already transcribed (or on its way)."
TRANSCRIBE_HINT = (
    "Reply to a voice note, audio, video note or video with /transcribe to transcribe it."
)
GROUP_ADMINS_ONLY = "Only the group's admins can change this."
USAGE_AUTOTRANSCRIBE = "Usage: /autotranscribe on|off"
AUTO_ON = "Automatic transcription is on: I transcribe every voice note, audio and video note here."
AUTO_OFF = "Automatic transcription is off. Reply to a note with /transcribe to transcribe it."
ONBOARDING = (
    "👋 Hi! I turn voice notes into text.\n\n"
    "• To transcribe every voice note here automatically, make me an admin of this group "
    "(or turn my privacy mode off in @BotFather), since otherwise Telegram does not show me "
    "the notes.\n"
    "• Reply to any voice note, audio, video note or video with /transcribe — that always works.\n"
    "• Group admins switch automatic mode with /autotranscribe on or /autotranscribe off."
)
ADMIN_ONLY = "Sorry, this command is for the bot's admins."
BLOCKED_OK = "User {user_id} is blocked: their media is ignored."
UNBLOCKED_OK = "User {user_id} is unblocked."

HELP = (
    "🎙 <b>Voxgram</b> turns voice notes into text.\n\n"
    "Send or forward me a voice note, an audio file, a video note or a video, and I reply "
    "with the transcript. Each line starts with its time: tap it to jump there in the note.\n\n"
    "<b>In groups</b>: add me to the group. To transcribe every voice note automatically, make "
    "me an admin (or turn my privacy mode off); otherwise reply to a voice note with "
    "/transcribe. Group admins switch automatic mode with /autotranscribe on|off.\n\n"
    "/usage — how much of your quota is left\n"
    "/language — the language of your voice notes (detected automatically unless you set it)\n"
    "/forgetme — delete everything stored about you\n"
    "/help — this message"
)
ADMIN_HELP = (
    "\n\n<b>Admin</b>: /setquota &lt;user_id&gt; &lt;seconds|unlimited&gt;, "
    "/usage &lt;user_id&gt;, /resetusage &lt;user_id&gt;, /block &lt;user_id&gt;, "
    "/unblock &lt;user_id&gt;, /stats"
)

USAGE_SETQUOTA = (
    "Usage: /setquota <user_id> <seconds|unlimited>, "
    "or reply to the user's message with /setquota <seconds|unlimited>"
)
USAGE_USAGE = "Usage: /usage, or /usage <user_id> for admins"
USAGE_RESETUSAGE = "Usage: /resetusage <user_id>"
USAGE_BLOCK = "Usage: /block <user_id>"
USAGE_UNBLOCK = "Usage: /unblock <user_id>"
USAGE_STATS = "Usage: /stats"
USAGE_LANGUAGE = "Usage: /language <code>, or /language auto to detect the language of each note."

_PERIOD_WORD = {"day": "today", "month": "this month", "total": "in total"}


def duration(seconds: float) -> str:
    """A human length: '45 s', '3 min 20 s', '1 h 5 min'."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def resets(when: datetime | None) -> str:
    return "It never resets." if when is None else f"It resets on {when:%Y-%m-%d %H:%M} UTC."


def too_big(size_bytes: int) -> str:
    return (
        f"This file is {size_bytes / 1_048_576:.1f} MB, and bots can download at most 20 MB "
        "from Telegram's servers, so I can't transcribe it. (The bot's operator can lift the "
        "limit by running a local Bot API server: see the README.)"
    )


def too_long(seconds: float, limit: int) -> str:
    return f"This audio is {duration(seconds)} long; I transcribe at most {duration(limit)}."


def over_quota(needed: float, left: int, period: str, reset_at: datetime | None) -> str:
    return (
        f"Not enough quota for this note ({duration(needed)}): you have {left} s "
        f"({duration(left)}) left {_PERIOD_WORD[period]}. {resets(reset_at)}"
    )


def usage_line(
    *,
    who: str,
    used: int,
    reserved: int,
    quota: int | None,
    period: str,
    reset_at: datetime | None,
    blocked: bool = False,
) -> str:
    """`/usage`: seconds used and left this period and when it resets."""
    when = _PERIOD_WORD[period]
    lines = [f"{who} used {used} s ({duration(used)}) {when}."]
    if reserved:
        lines.append(f"{reserved} s are reserved for notes being transcribed.")
    if quota is None:
        lines.append("Quota: unlimited.")
    else:
        left = max(0, quota - used - reserved)
        lines.append(f"Quota: {quota} s ({duration(quota)}); {left} s ({duration(left)}) left.")
        lines.append(resets(reset_at))
    if blocked:
        lines.append("Blocked: yes.")
    return "\n".join(lines)


def quota_set(user_id: int, quota: int | None) -> str:
    amount = "unlimited" if quota is None else f"{quota} s ({duration(quota)}) per period"
    return f"Quota of user {user_id} is now {amount}."


def usage_reset(user_id: int, cleared: int) -> str:
    return f"Usage of user {user_id} for this period is reset ({cleared} s cleared)."


def stats(
    *, users: int, seconds: int, done: int, failed: int, top: list[tuple[int, int]], period: str
) -> str:
    lines = [
        f"Users: {users}",
        f"Transcribed {_PERIOD_WORD[period]}: {seconds} s ({duration(seconds)})",
        f"Jobs {_PERIOD_WORD[period]}: {done} done, {failed} failed",
    ]
    if top:
        lines.append("Top users:")
        lines.extend(f"  {user_id}: {secs} s ({duration(secs)})" for user_id, secs in top)
    return "\n".join(lines)


def _language_name(code: str) -> str:
    return f"{LANGUAGES[code]} ({code})"


def accepted_languages() -> str:
    """The codes /language accepts, with their names."""
    return "Accepted codes: " + ", ".join(f"{code} ({name})" for code, name in LANGUAGES.items())


def unknown_language(code: str) -> str:
    return f"I don't know the language code “{code}”. {accepted_languages()}"


def language_set(code: str, *, group: bool) -> str:
    where = "Voice notes in this group" if group else "Your voice notes"
    return (
        f"{where} are now transcribed as {_language_name(code)}. With a language set, the "
        "transcription service gives no time for each sentence, so transcripts show only where "
        "each part starts. /language auto detects the language again, with a time on every line."
    )


def language_auto(*, group: bool) -> str:
    where = "each voice note in this group" if group else "each of your voice notes"
    return f"The language of {where} is detected automatically, with a time on every line."


def language_current(code: str | None, *, group: bool) -> str:
    where = "in this group" if group else "of your voice notes"
    now = "detected automatically" if code is None else _language_name(code)
    return f"Recognition language {where}: {now}.\n{USAGE_LANGUAGE}\n{accepted_languages()}"


def forgotten(
    *,
    jobs: int,
    periods: int,
    transcripts: int,
    language: bool,
    kept_quota: int | None,
    kept_block: bool,
) -> str:
    """What /forgetme deleted, and what an admin set that was kept."""
    lines = [
        "Deleted everything I stored about you:",
        f"• records of transcribed notes: {jobs}",
        f"• usage history: {periods} period(s)",
        f"• transcripts kept for the file buttons: {transcripts}",
        f"• settings: {'your recognition language' if language else 'none were set'}",
    ]
    if kept_quota is not None:
        amount = "unlimited" if kept_quota < 0 else f"{kept_quota} s ({duration(kept_quota)})"
        lines.append(
            f"Kept: the quota a bot admin gave you ({amount} per period), because an admin set "
            "it; only an admin can change it."
        )
    else:
        lines.append("No quota was set for you by an admin, so nothing was kept.")
    if kept_block:
        lines.append("Kept: a block set by a bot admin.")
    return "\n".join(lines)
