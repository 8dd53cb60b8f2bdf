"""Every word the bot says to users: one gettext catalog (bot/i18n/locales), in the user's language.

Module constants are message ids, marked with `N_` so `pybabel extract` finds them;
`texts.of(language_code)` gives a `Texts` that translates them (`t(texts.STATUS)`) and builds the
messages that carry numbers. Plain text unless a name says HTML.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from bot import i18n
from bot.domain.languages import LANGUAGES
from bot.i18n import N_
from bot.i18n.options import NOTICES as NOTICES
from bot.i18n.options import SPEAKER as SPEAKER
from bot.i18n.options import USAGE_SPEAKERS as USAGE_SPEAKERS
from bot.i18n.options import USAGE_VOCAB as USAGE_VOCAB
from bot.i18n.options import OptionWords

STATUS = N_("🎧 Transcribing…")
NO_SPEECH = N_("🔇 No speech detected.")
SEE_FILE = N_("… The whole transcript is in the file below.")
BUTTON_SRT = N_("🎬 Subtitles (.srt)")
BUTTON_TXT = N_("📄 Text (.txt)")
GUEST_HOWTO = N_("Reply to a voice note, audio or video with my @username to transcribe it.")
BUTTON_WHOLE = N_("📄 The whole transcript")
GUEST_CUT = N_("… The rest is behind the button below.")
WHOLE_GONE = N_("This transcript is no longer kept. Mention me on the note again.")
BUTTON_SUMMARY = N_("📝 Summary")
BUTTON_TRANSLATE = N_("🌐 Translate")
TRANSLATED = N_("Translated into {language}")
ALREADY_IN_LANGUAGE = N_("This transcript is already in {language}.")
DIGEST_LIMIT = N_(
    "You have used today's {limit} summaries and translations. More from 00:00 UTC, in {wait}."
)
DIGEST_FAILED = N_(
    "Summaries and translations are unavailable right now. This one did not count; try again later."
)
EXPIRED = N_("This transcript is no longer kept, so its files are gone. Send the note again.")
FORGET_CONFIRM = N_(
    "This deletes everything I store about you: the records of your transcribed notes, your "
    "usage history, your settings and the transcripts kept for the file buttons. Messages "
    "already in your chats stay. Only the number of seconds you used in this quota period is "
    "kept, under a code instead of your id, until the period ends, so the quota still applies. "
    "Delete?"
)
FORGET_YES = N_("🗑 Yes, delete")
FORGET_NO = N_("Cancel")
FORGET_CANCELLED = N_("Nothing was deleted.")
FORGET_NOT_YOURS = N_("Only the person who sent /forgetme can answer this.")
FORGET_BUSY = N_("A note of yours is still being transcribed. Try again when it is done.")
NOT_AUDIO = N_(
    "I can only transcribe voice notes, audio files, video notes and videos. "
    "This file doesn't look like audio."
)
UNREADABLE = N_("I couldn't read any audio in this file: it may be damaged. Nothing was charged.")
DOWNLOAD_FAILED = N_("I couldn't download this file from Telegram. Please send it again.")
BATCH_QUEUED = N_(
    "🕰 This recording is long: it is queued for a cheaper batch transcription. Expect it "
    "within {hours} hours, usually much sooner."
)
BATCH_SHARE = N_("Of them, {amount} through the batch API, at half the cost.")
STATS_BATCH = N_("Through the batch API: {amount}, which saved the cost of {saved}")
SERVICE_BUSY = N_(
    "The transcription service is busy or unavailable right now, so this note was not "
    "transcribed and nothing was charged. Please send it again in a few minutes."
)
SERVICE_REFUSED = N_("The transcription service could not process this audio. Nothing was charged.")
FAILED = N_("Sorry, something went wrong with this note. Nothing was charged; please try again.")
ALREADY = N_("This note is already transcribed (or on its way).")
TOO_MANY_PENDING = N_(
    "You have many notes waiting already, so I did not take this one. Send it again once "
    "some of them are done."
)
TRANSCRIBE_HINT = N_(
    "Reply to a voice note, audio, video note or video with /transcribe to transcribe it."
)
GROUP_ADMINS_ONLY = N_("Only the group's admins can change this.")
USAGE_AUTOTRANSCRIBE = N_("Usage: /autotranscribe on|off")
AUTOTRANSCRIBE_IN_GROUPS = N_("Usage: /autotranscribe on|off (in a group)")
AUTO_ON = N_(
    "Automatic transcription is on: I transcribe every voice note, audio and video note here."
)
AUTO_OFF = N_("Automatic transcription is off. Reply to a note with /transcribe to transcribe it.")
ONBOARDING = N_(
    "👋 Hi! I turn voice notes into text.\n\n"
    "• To transcribe every voice note here automatically, make me an admin of this group "
    "(or turn my privacy mode off in @BotFather), since otherwise Telegram does not show me "
    "the notes.\n"
    "• Reply to any voice note, audio, video note or video with /transcribe — that always works.\n"
    "• Group admins switch automatic mode with /autotranscribe on or /autotranscribe off."
)
ADMIN_ONLY = N_("Sorry, this command is for the bot's admins.")

HELP = N_(
    "🎙 <b>Voxgram</b> turns voice notes into text.\n\n"
    "Send or forward me a voice note, an audio file, a video note or a video, and I reply "
    "with the transcript. Each line starts with its time: tap it to jump there in the note.\n\n"
    "<b>In groups</b>: add me to the group. To transcribe every voice note automatically, make "
    "me an admin (or turn my privacy mode off); otherwise reply to a voice note with "
    "/transcribe. Group admins switch automatic mode with /autotranscribe on|off.\n\n"
    "/usage — how much of your quota is left\n"
    "/language — the language of your voice notes (detected automatically unless you set it)\n"
    "/speakers — say who speaks on each line (on or off)\n"
    "/vocab — names and terms I should recognize\n"
    "/forgetme — delete everything stored about you\n"
    "/help — this message"
)
"""HTML."""
ADMIN_HELP = N_(
    "\n\n<b>Admin</b>: /setquota &lt;user_id&gt; &lt;seconds|unlimited&gt;, "
    "/usage &lt;user_id&gt;, /resetusage &lt;user_id&gt;, /block &lt;user_id&gt;, "
    "/unblock &lt;user_id&gt;, /stats"
)
"""HTML."""

USAGE_SETQUOTA = N_(
    "Usage: /setquota <user_id> <seconds|unlimited>, "
    "or reply to the user's message with /setquota <seconds|unlimited>"
)
SENDER_HIDDEN = N_(
    "The original sender of that message is hidden, so nothing was changed: "
    "use /setquota <user_id> <seconds|unlimited>."
)
USAGE_USAGE = N_("Usage: /usage, or /usage <user_id> for admins")
USAGE_RESETUSAGE = N_("Usage: /resetusage <user_id>")
USAGE_BLOCK = N_("Usage: /block <user_id>")
USAGE_UNBLOCK = N_("Usage: /unblock <user_id>")
USAGE_STATS = N_("Usage: /stats")
USAGE_LANGUAGE = N_(
    "Usage: /language <code>, or /language auto to detect the language of each note."
)
# The command menu (setMyCommands), per language: command → description.
COMMANDS: dict[str, str] = {
    "help": N_("What I do and how to use me"),
    "usage": N_("Your quota: used and left"),
    "language": N_("The language of your voice notes"),
    "transcribe": N_("Reply to a note with it to transcribe the note"),
    "speakers": N_("Say who speaks on each line (on/off)"),
    "vocab": N_("Names and terms to recognize"),
    "forgetme": N_("Delete everything stored about you"),
    "autotranscribe": N_("Groups: transcribe every note (on/off, admins)"),
}


class Texts(OptionWords):
    """The bot's words in one language; `t(msgid)` translates a constant of this module."""

    def help(self, *, admin: bool) -> str:
        """/help, HTML; the admin commands for admins."""
        return self(HELP) + (self(ADMIN_HELP) if admin else "")

    def forwarded_from(self, name: str) -> str:
        return self._("Forwarded from {name}").format(name=name)

    def too_big(self, size_bytes: int | None) -> str:
        """Over the download limit; the size when Telegram gave it."""
        if not size_bytes:
            return self._(
                "This file is over the 20 MB bots can download from Telegram's servers, so I "
                "can't transcribe it. (The bot's operator can lift the limit by running a local "
                "Bot API server: see the README.)"
            )
        return self._(
            "This file is {size} MB, and bots can download at most 20 MB from Telegram's "
            "servers, so I can't transcribe it. (The bot's operator can lift the limit by "
            "running a local Bot API server: see the README.)"
        ).format(size=f"{size_bytes / 1_048_576:.1f}")

    def progress(self, done: int, total: int) -> str:
        """A long note's status while its parts are being transcribed."""
        parts = self._("{done} of {total} parts done").format(done=done, total=total)
        return f"{self(STATUS)} {parts}"

    def too_long(self, seconds: float, limit: int) -> str:
        return self._("This audio is {length} long; I transcribe at most {limit}.").format(
            length=self.duration(seconds), limit=self.duration(limit)
        )

    def over_quota(self, needed: float, left: int, period: str, reset_at: datetime | None) -> str:
        text = self._(
            "Not enough quota for this note ({needed}): you have {left} left {period}."
        ).format(needed=self.duration(needed), left=self._amount(left), period=self._period(period))
        return f"{text} {self.resets(reset_at)}"

    def usage_line(
        self,
        *,
        user_id: int | None,
        used: int,
        reserved: int,
        quota: int | None,
        period: str,
        reset_at: datetime | None,
        blocked: bool = False,
        batch: int = 0,
    ) -> str:
        """`/usage`: seconds used (of them `batch` through the batch API) and left this period
        and when it resets; user_id None: 'You'."""
        values = {"used": self._amount(used), "period": self._period(period)}
        if user_id is None:
            lines = [self._("You used {used} {period}.").format(**values)]
        else:
            lines = [
                self._("User {user_id} used {used} {period}.").format(user_id=user_id, **values)
            ]
        if batch:
            lines.append(self(BATCH_SHARE).format(amount=self._amount(batch)))
        if reserved:
            lines.append(
                self._("{seconds} s are reserved for notes being transcribed.").format(
                    seconds=reserved
                )
            )
        if quota is None:
            lines.append(self._("Quota: unlimited."))
        else:
            left = max(0, quota - used - reserved)
            lines.append(
                self._("Quota: {quota}; {left} left.").format(
                    quota=self._amount(quota), left=self._amount(left)
                )
            )
            lines.append(self.resets(reset_at))
        if blocked:
            lines.append(self._("Blocked: yes."))
        return "\n".join(lines)

    def quota_set(self, user_id: int, quota: int | None) -> str:
        if quota is None:
            return self._("Quota of user {user_id} is now unlimited.").format(user_id=user_id)
        return self._("Quota of user {user_id} is now {amount} per period.").format(
            user_id=user_id, amount=self._amount(quota)
        )

    def usage_reset(self, user_id: int, cleared: int) -> str:
        return self._(
            "Usage of user {user_id} for this period is reset ({seconds} s cleared)."
        ).format(user_id=user_id, seconds=cleared)

    def blocked(self, user_id: int, *, blocked: bool) -> str:
        if blocked:
            return self._("User {user_id} is blocked: their media is ignored.").format(
                user_id=user_id
            )
        return self._("User {user_id} is unblocked.").format(user_id=user_id)

    def stats(
        self,
        *,
        users: int,
        seconds: int,
        done: int,
        failed: int,
        top: list[tuple[int, int]],
        period: str,
        batch: int = 0,
    ) -> str:
        when = self._period(period)
        lines = [
            self._("Users: {count}").format(count=users),
            self._("Transcribed {period}: {amount}").format(
                period=when, amount=self._amount(seconds)
            ),
            self._("Jobs {period}: {done} done, {failed} failed").format(
                period=when, done=done, failed=failed
            ),
        ]
        if batch:
            saved = self._amount(batch // 2)
            lines.append(self(STATS_BATCH).format(amount=self._amount(batch), saved=saved))
        if top:
            lines.append(self._("Top users:"))
            lines.extend(f"  {user_id}: {self._amount(secs)}" for user_id, secs in top)
        return "\n".join(lines)

    def language_name(self, code: str) -> str:
        """'German (de)', in this language."""
        return f"{i18n.language_name(code, self.language)} ({code})"

    def accepted_languages(self) -> str:
        """The codes /language accepts, with their names."""
        names = ", ".join(self.language_name(code) for code in LANGUAGES)
        return self._("Accepted codes: {codes}").format(codes=names)

    def unknown_language(self, code: str) -> str:
        text = self._("I don't know the language code “{code}”.").format(code=code)
        return f"{text} {self.accepted_languages()}"

    def language_set(self, code: str, *, group: bool) -> str:
        if group:
            text = self._("Voice notes in this group are now transcribed as {language}.")
        else:
            text = self._("Your voice notes are now transcribed as {language}.")
        return (
            text.format(language=self.language_name(code))
            + " "
            + self._(
                "With a language set, the transcription service gives no time for each "
                "sentence, so transcripts show only where each part starts. /language auto "
                "detects the language again, with a time on every line."
            )
        )

    def language_auto(self, *, group: bool) -> str:
        if group:
            return self._(
                "The language of each voice note in this group is detected automatically, "
                "with a time on every line."
            )
        return self._(
            "The language of each of your voice notes is detected automatically, with a time "
            "on every line."
        )

    def language_current(self, code: str | None, *, group: bool) -> str:
        current = self._("detected automatically") if code is None else self.language_name(code)
        if group:
            text = self._("Recognition language in this group: {language}.")
        else:
            text = self._("Recognition language of your voice notes: {language}.")
        lines = [text.format(language=current), self(USAGE_LANGUAGE), self.accepted_languages()]
        return "\n".join(lines)

    def forgotten(
        self,
        *,
        jobs: int,
        periods: int,
        transcripts: int,
        language: bool,
        kept_quota: int | None,
        vocabulary: int = 0,
        kept_block: bool,
        carried: int,
        period: str,
        reset_at: datetime | None,
    ) -> str:
        """What /forgetme deleted, what an admin set that was kept, and this period's count
        kept under a pseudonym (`carried` seconds)."""
        settings = self._("your recognition language") if language else self._("none were set")
        lines = [
            self._("Deleted everything I stored about you:"),
            self._("• records of transcribed notes: {count}").format(count=jobs),
            self._("• periods of usage history: {count}").format(count=periods),
            self._("• transcripts kept for the file buttons: {count}").format(count=transcripts),
            self._("• settings: {settings}").format(settings=settings),
        ]
        if vocabulary:
            lines.append(self._("• terms of your /vocab list: {count}").format(count=vocabulary))
        if carried:
            values = {"amount": self._amount(carried), "period": self._period(period)}
            if reset_at is None:
                kept = self._(
                    "Kept, because the quota never resets: the {amount} you used {period}, "
                    "under a code instead of your id, so the quota still applies if you come back."
                ).format(**values)
            else:
                kept = self._(
                    "Kept until this quota period ends ({date} UTC): the {amount} you used "
                    "{period}, under a code instead of your id, so the quota still applies if "
                    "you come back. Then it is deleted too."
                ).format(date=f"{reset_at:%Y-%m-%d %H:%M}", **values)
            lines.append(kept)
        if kept_quota is None:
            lines.append(self._("No quota was set for you by an admin, so nothing was kept."))
        else:
            amount = self._("unlimited") if kept_quota < 0 else self._amount(kept_quota)
            lines.append(
                self._(
                    "Kept: the quota a bot admin gave you ({amount} per period), because an "
                    "admin set it; only an admin can change it."
                ).format(amount=amount)
            )
        if kept_block:
            lines.append(self._("Kept: a block set by a bot admin."))
        return "\n".join(lines)


def of(language_code: str | None) -> Texts:
    """The bot's words in a Telegram user's language, English when there is no catalog for it."""
    return _texts(i18n.ui_language(language_code))


@cache
def _texts(language: str) -> Texts:
    return Texts(language)
