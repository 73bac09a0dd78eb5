"""The MMSU answer-letter rule (official `mmsu_evaluation.py`, dingdongwang/MMSU 217d1d3).

The response is stripped and its newlines removed. A non-empty response other than the
string "None" gives a letter when its first character is an uppercase A-D, or else when its
second-to-last character is one ("The answer is B."). Any other non-empty response is a
format error, which the official script leaves out of the denominator; an empty response or
"None" is counted and wrong. DIFFA's copy of the script counts format errors as wrong too.
Lowercase letters are never accepted, and a response starting with a capital A ("Answer: C",
"According to ...") reads as A, exactly as in the official script.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

LETTERS = "ABCD"


class LetterStatus(str, Enum):
    PARSED = "parsed"
    EMPTY = "empty"
    """Empty or "None": counted as wrong by both protocols."""
    UNPARSABLE = "unparsable"
    """No letter where the rule looks: left out by the official protocol, wrong under strict."""


@dataclass(frozen=True)
class LetterAnswer:
    letter: str | None
    status: LetterStatus


def mmsu_letter(response: str | None) -> LetterAnswer:
    """The option letter the official MMSU scorer reads from `response`."""
    predict = (response or "").strip().replace("\n", "")
    if not predict or predict == "None":
        return LetterAnswer(None, LetterStatus.EMPTY)
    if predict[0] in LETTERS:
        return LetterAnswer(predict[0], LetterStatus.PARSED)
    if len(predict) > 1 and predict[-2] in LETTERS:
        return LetterAnswer(predict[-2], LetterStatus.PARSED)
    return LetterAnswer(None, LetterStatus.UNPARSABLE)
