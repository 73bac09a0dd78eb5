"""Multiple-choice matching by answer text, the rule of the official MMAU and MMAR scorers.

A prediction is correct when it contains every word of the answer and no word that only the
other options have. Words are the lowercased `\\b\\w+\\b` tokens; a prediction without any
word is wrong. Letter-only answers ("B") are therefore wrong unless the letter is itself
a word of the answer, exactly as in the official scripts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"\b\w+\b")


def word_set(text: str) -> frozenset[str]:
    """The set of lowercased word tokens of `text`."""
    return frozenset(_WORD.findall(text.lower()))


def token_set_match(prediction: str | None, answer: str, choices: Sequence[str]) -> bool:
    """True when `prediction` names `answer` and none of the other options, by word sets."""
    if not isinstance(prediction, str):
        return False
    predicted = word_set(prediction)
    if not predicted:
        return False
    expected = word_set(answer)
    # Options whose word set equals the answer's are not distractors; words shared with the
    # answer never count against a prediction.
    distractor_words: set[str] = set()
    for choice in choices:
        words = word_set(choice)
        if words != expected:
            distractor_words |= words - expected
    return expected <= predicted and predicted.isdisjoint(distractor_words)
