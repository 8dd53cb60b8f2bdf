"""Every word the bot says to users, in one place (plain text unless a name says HTML)."""

from __future__ import annotations

from datetime import datetime

STATUS = "🎧 Transcribing…"
NO_SPEECH = "🔇 No speech detected."
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


def progress(done: int, total: int) -> str:
    """A long note's status while its parts are being transcribed."""
    return f"{STATUS} {done} of {total} parts done"


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
