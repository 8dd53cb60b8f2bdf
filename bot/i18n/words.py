"""The grammar every message of the bot shares: translation, lengths of time, periods."""

from __future__ import annotations

from datetime import datetime

from bot import i18n


class Words:
    """One language's catalog, and how it says lengths of time, periods and resets."""

    def __init__(self, language: str) -> None:
        self.language = language
        self._catalog = i18n.translations(language)

    def __call__(self, message: str) -> str:
        return self._catalog.gettext(message)

    _ = __call__

    def _period(self, period: str) -> str:
        words = {"day": self._("today"), "month": self._("this month")}
        return words.get(period) or self._("in total")

    def duration(self, seconds: float) -> str:
        """A human length: '45 s', '3 min 20 s', '1 h 5 min'."""
        total = max(0, round(seconds))
        hours, rest = divmod(total, 3600)
        minutes, secs = divmod(rest, 60)
        if hours and minutes:
            return self._("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
        if hours:
            return self._("{hours} h").format(hours=hours)
        if minutes and secs:
            return self._("{minutes} min {seconds} s").format(minutes=minutes, seconds=secs)
        if minutes:
            return self._("{minutes} min").format(minutes=minutes)
        return self._("{seconds} s").format(seconds=secs)

    def _amount(self, seconds: int) -> str:
        """'200 s (3 min 20 s)'; under a minute just '45 s'."""
        if seconds < 60:
            return self.duration(seconds)
        return self._("{seconds} s ({duration})").format(
            seconds=seconds, duration=self.duration(seconds)
        )

    def resets(self, when: datetime | None) -> str:
        if when is None:
            return self._("It never resets.")
        return self._("It resets on {date} UTC.").format(date=f"{when:%Y-%m-%d %H:%M}")
