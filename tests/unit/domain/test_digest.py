"""The parts a long transcript is sent in, and translated lines paired back with their times."""

from __future__ import annotations

from bot.domain.digest import paired, parts

LINES = ["0:00 Hello world", "0:05 How are you", "1:02:03 Bye"]


def test_an_answer_of_one_line_each_drops_the_times_wherever_they_stand() -> None:
    answer = "0:00 Hallo Welt\n[de] 0:05 Wie geht's\n(1:02:03) Tschüss"
    assert paired(LINES, answer) == ["Hallo Welt", "[de] Wie geht's", "Tschüss"]


def test_lines_split_or_merged_by_the_model_go_by_their_times() -> None:
    split = "0:00 Hallo\nWelt\n0:05 Wie geht's\n1:02:03 Tschüss"
    assert paired(LINES, split) == ["Hallo Welt", "Wie geht's", "Tschüss"]
    merged = "0:00 Hallo Welt, wie geht's\n1:02:03 Tschüss"
    assert paired(LINES, merged) == ["Hallo Welt, wie geht's", "How are you", "Tschüss"]


def test_an_answer_without_times_is_paired_in_order() -> None:
    assert paired(LINES, "Hallo Welt\nWie geht's") == ["Hallo Welt", "Wie geht's", "Bye"]
    assert paired(LINES, "a\nb\nc\nd") == ["a", "b", "c d"]


def test_parts_hold_at_most_the_budget_and_every_character() -> None:
    lines = ["a" * 10, "b" * 5, "c " * 20]
    got = parts(lines, 16)
    assert all(len("\n".join(part)) <= 16 for part in got)
    assert "".join("".join(p) for p in got).replace(" ", "") == "".join(lines).replace(" ", "")
    assert parts(["x" * 30, "y"], 16, cut=False) == [["x" * 30], ["y"]]
