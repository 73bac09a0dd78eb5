"""The MMSU letter rule, case by case, as the official mmsu_evaluation.py reads responses."""

from __future__ import annotations

import pytest

from diffa_eval.scoring.letters import LetterStatus, mmsu_letter
from diffa_eval.task import TASKS
from diffa_eval.types import Sample

PARSED, EMPTY, UNPARSABLE = LetterStatus.PARSED, LetterStatus.EMPTY, LetterStatus.UNPARSABLE

CASES = [
    # response, letter read, status
    ("B", "B", PARSED),
    ("B. Tea", "B", PARSED),
    ("  C  ", "C", PARSED),
    ("\nD\n", "D", PARSED),
    ("(B)", "B", PARSED),  # second-to-last character
    ("The answer is C.", "C", PARSED),
    ("Answer: C", "A", PARSED),  # starts with a capital A: read as A, as officially
    ("According to the audio, D", "A", PARSED),
    ("The correct option is (B)", "B", PARSED),
    ("option B", None, UNPARSABLE),  # last character, not second-to-last
    ("b", None, UNPARSABLE),  # lowercase never counts
    ("I think it is B because of the tone", None, UNPARSABLE),
    ("x", None, UNPARSABLE),
    ("", None, EMPTY),
    ("   \n ", None, EMPTY),
    ("None", None, EMPTY),
    (None, None, EMPTY),
]


@pytest.mark.parametrize(("response", "letter", "status"), CASES)
def test_the_official_letter_rule(response: str | None, letter: str | None, status: LetterStatus) -> None:
    answer = mmsu_letter(response)
    assert (answer.letter, answer.status) == (letter, status)


ITEM = Sample("q1", None, "Tea", ("Coffee", "Tea", "Water", "Juice"))


@pytest.mark.parametrize(
    ("response", "official", "strict", "parse_failed"),
    [
        ("B", 1.0, 1.0, 0.0),
        ("C", 0.0, 0.0, 0.0),
        ("Answer: B", 0.0, 0.0, 0.0),  # read as A
        ("it is b", None, 0.0, 1.0),  # official leaves it out, strict counts it wrong
        ("", 0.0, 0.0, 1.0),  # empty is counted wrong by both
    ],
)
def test_official_and_strict_protocols(
    response: str, official: float | None, strict: float, parse_failed: float
) -> None:
    score = TASKS.get("mmsu").scorer(ITEM, response)
    assert score.value == official
    assert (score.details["strict"], score.details["parse_failed"]) == (strict, parse_failed)


def test_a_letter_is_correct_when_its_option_text_equals_the_answer() -> None:
    duplicated = Sample("q2", None, "Yes", ("Yes", "No", "Yes", "Maybe"))
    scorer = TASKS.get("mmsu").scorer
    assert [scorer(duplicated, letter).value for letter in "ABCD"] == [1.0, 0.0, 1.0, 0.0]
