"""The words of transcription options: speaker labels, /vocab, and transcript notices.

Mixed into `texts.Texts`; the constants are message ids, as in `texts`.
"""

from __future__ import annotations

from bot.domain.options import MAX_TERM_LENGTH, MAX_TERMS, TermProblem
from bot.domain.transcript import Notice
from bot.i18n import N_
from bot.i18n.words import Words

SPEAKER = N_("Speaker {n}")
"""The label of a speaker in transcripts: "Speaker 2"."""
USAGE_SPEAKERS = N_("Usage: /speakers on|off")
USAGE_VOCAB = N_(
    "Usage: /vocab <term> … adds names and terms (join the words of one term with _, as in "
    "Jean_Dupont), /vocab alone lists them, /vocab clear empties the list."
)
NOTICES: dict[Notice, str] = {
    Notice.SPEAKERS_PER_PART: N_(
        "This long audio was transcribed in parts: speakers are numbered anew in each part."
    ),
    Notice.SPEAKERS_NEED_AUTO_LANGUAGE: N_(
        "No speaker labels: they need the language detected automatically (/language auto)."
    ),
    Notice.VOCABULARY_NOT_APPLIED: N_(
        "The /vocab list was not applied: the transcription model does not take one."
    ),
}


class OptionWords(Words):
    """What `texts.Texts` says about /speakers, /vocab and how a transcript was made."""

    def notices(self, notices: tuple[Notice, ...]) -> list[str]:
        """One line per notice of a transcript."""
        return [self(NOTICES[notice]) for notice in notices]

    def speakers_state(self, on: bool, *, group: bool, pinned: bool = False) -> str:
        """Whether speakers are labelled; with a pinned language, that labels wait for auto."""
        if on and group:
            text = self._("Speaker labels are on in this group: each line says who speaks.")
        elif on:
            text = self._("Speaker labels are on: each line of your transcripts says who speaks.")
        elif group:
            text = self._("Speaker labels are off in this group.")
        else:
            text = self._("Speaker labels are off.")
        if on and pinned:
            text += " " + self(NOTICES[Notice.SPEAKERS_NEED_AUTO_LANGUAGE])
        return text

    def vocabulary(self, terms: list[str], *, group: bool) -> str:
        """/vocab alone: the list and how to change it."""
        if not terms:
            head = (
                self._("This group's vocabulary is empty.")
                if group
                else self._("Your vocabulary is empty.")
            )
        else:
            head = (
                self._("This group's vocabulary ({count} of {limit}): {terms}")
                if group
                else self._("Your vocabulary ({count} of {limit}): {terms}")
            ).format(count=len(terms), limit=MAX_TERMS, terms=_listed(terms))
        return f"{head}\n{self(USAGE_VOCAB)}"

    def vocabulary_added(self, added: list[str], total: int) -> str:
        if not added:
            text = self._("These terms are in the list already.")
        else:
            text = self._("Added: {terms}.").format(terms=", ".join(added))
        count = self._("The list holds {count} of {limit} terms.")
        return f"{text} {count.format(count=total, limit=MAX_TERMS)}"

    def vocabulary_full(self, total: int) -> str:
        return self._(
            "The list holds at most {limit} terms and has room for {room} more, so nothing was "
            "added."
        ).format(limit=MAX_TERMS, room=max(0, MAX_TERMS - total))

    def bad_term(self, term: str, problem: TermProblem) -> str:
        """Why a term cannot be sent; nothing was added."""
        shown = term if len(term) <= MAX_TERM_LENGTH else term[:MAX_TERM_LENGTH] + "…"
        if problem is TermProblem.SEPARATOR:
            text = self._(
                "“{term}” holds a comma. Separate terms with spaces and join the words of one "
                "term with _, as in Jean_Dupont."
            ).format(term=shown)
        elif problem is TermProblem.TOO_LONG:
            text = self._("“{term}” is too long: a term has at most {limit} characters.").format(
                term=shown, limit=MAX_TERM_LENGTH
            )
        else:
            text = self._("A term holds characters that cannot be sent.")
        nothing = self._("Nothing was added.")
        return f"{text} {nothing}"

    def vocabulary_cleared(self, count: int) -> str:
        return self._("The list is empty now ({count} terms removed).").format(count=count)


LISTED_CHARACTERS = 3000
"""How much of a list /vocab shows: 100 long terms would not fit in one message."""


def _listed(terms: list[str]) -> str:
    shown = ", ".join(terms)
    return shown if len(shown) <= LISTED_CHARACTERS else shown[:LISTED_CHARACTERS] + " …"
