"""TranscriptionOptions: the key names the options; the vocabulary rules; retained speakers."""

from __future__ import annotations

import json

from bot.domain import retained
from bot.domain.options import TermProblem, TranscriptionOptions, new_terms, term_problem
from bot.domain.transcript import Notice, Segment, Transcript, number_speakers


def test_the_key_names_the_options_and_nothing_else() -> None:
    plain = TranscriptionOptions()
    assert plain.key() == "v1;language=auto;speakers=0;vocabulary=none"
    assert plain.key() == TranscriptionOptions(None, False, ()).key()
    listed = TranscriptionOptions(vocabulary=("Voxtral", "Jean_Dupont"))
    # The order and case of the terms do not change what Mistral is asked.
    assert listed.key() == TranscriptionOptions(vocabulary=("jean_dupont", "VOXTRAL")).key()
    keys = {
        plain.key(),
        listed.key(),
        TranscriptionOptions(vocabulary=("Voxtral",)).key(),
        TranscriptionOptions(language="de").key(),
        TranscriptionOptions(speakers=True).key(),
    }
    assert len(keys) == 5
    # The terms themselves stay out of it.
    assert "Voxtral" not in listed.key()


def test_a_pinned_language_rules_out_diarization() -> None:
    assert TranscriptionOptions(speakers=True).diarize
    assert not TranscriptionOptions(language="fr", speakers=True).diarize
    assert not TranscriptionOptions().diarize


def test_terms_that_cannot_be_sent() -> None:
    assert term_problem("Jean_Dupont") is None
    assert term_problem("Ørsted-Ænergi") is None
    assert term_problem("a,b") is TermProblem.SEPARATOR
    assert term_problem("x" * 50) is None
    assert term_problem("x" * 51) is TermProblem.TOO_LONG
    assert term_problem("zero\u200bwidth") is TermProblem.UNPRINTABLE
    assert new_terms(["Voxtral"], ["voxtral", "Mistral", "MISTRAL"]) == ["Mistral"]


def test_speakers_are_numbered_in_order_of_first_appearance() -> None:
    heard = Transcript(
        segments=(
            Segment(0, 1, "a", "speaker_7"),
            Segment(1, 2, "b", "speaker_2"),
            Segment(2, 3, "c", "speaker_7"),
            Segment(3, 4, "d"),
        )
    )
    assert [s.speaker for s in number_speakers(heard).segments] == ["1", "2", "1", None]


def test_retained_bodies_keep_speakers_and_notices_and_old_bodies_still_read() -> None:
    transcript = Transcript(
        segments=(Segment(0.0, 1.0, "hi", "1"), Segment(1.0, 2.0, "yo", "2")),
        billed_seconds=2,
        notices=(Notice.VOCABULARY_NOT_APPLIED,),
    )
    assert retained.decode(retained.encode(transcript, "head")) == (transcript, "head")
    old = json.dumps(
        {"header": None, "timestamps": True, "billed_seconds": 3, "segments": [[0.5, 1.0, "x"]]}
    )
    decoded, header = retained.decode(old)
    assert header is None and decoded.notices == ()
    assert decoded.segments == (Segment(0.5, 1.0, "x"),)
