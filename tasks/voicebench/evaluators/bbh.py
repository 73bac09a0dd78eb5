"""VoiceBench's BBH evaluator: a yes/no or (A)/(B) answer read from a free-form response.

The task is taken from the sample id as the official code does (`sports_understanding`,
`hyperbaton`, `navigate` or `web_of_lies` anywhere in the id, tried in that order). The
response is normalized, then the task's rules in `bbh_rules` are tried in order. Answers are
1 for yes / (B) and 0 for no / (A), the encoding of `bbh_reference`.
"""

from __future__ import annotations

import re

from .bbh_rules import (
    HYPERBATON_RULES,
    NAVIGATE_RULES,
    SPORTS_UNDERSTANDING_RULES,
    WEB_OF_LIES_RULES,
    YES_NO_RULES,
    BBHRule,
)

TASK_RULES: dict[str, tuple[BBHRule, ...]] = {
    "sports_understanding": YES_NO_RULES + SPORTS_UNDERSTANDING_RULES,
    "hyperbaton": HYPERBATON_RULES,
    "navigate": YES_NO_RULES + NAVIGATE_RULES,
    "web_of_lies": YES_NO_RULES + WEB_OF_LIES_RULES,
}
REFERENCE_ANSWERS: dict[str, int] = {"yes": 1, "no": 0, "(a)": 0, "(b)": 1}

_LEADING_MARKERS = ("<1>", "<2>", "<3>")
_TRAILING_MARKER = "<|user|>"
_REMOVED = "<|turn_end|>"
_BLANKED = (":", "**", '"', "-", ",", ".", "：")
_PATTERNS: dict[str, re.Pattern[str]] = {
    text: re.compile(text) for rules in TASK_RULES.values() for match, text, _ in rules if match == "regex"
}


def bbh_task(sample_id: str) -> str:
    """The BBH task a sample id belongs to, found as a substring as the official evaluator does."""
    for task in TASK_RULES:
        if task in sample_id:
            return task
    raise ValueError(f"BBH sample id {sample_id!r} names none of the tasks {', '.join(TASK_RULES)}")


def normalize_bbh_response(response: str) -> str:
    """Lowercase, drop the `<|user|>`/`<1>`.. markers and `<|turn_end|>`, blank punctuation, squeeze spaces."""
    text = response.lower()
    if text.endswith(_TRAILING_MARKER):
        text = text[: -len(_TRAILING_MARKER)].strip()
    if text.startswith(_LEADING_MARKERS):
        text = text[3:].strip()
    text = text.replace(_REMOVED, "")
    for mark in _BLANKED:
        text = text.replace(mark, " ")
    return " ".join(text.split())


def _matches(match: str, text: str, response: str) -> bool:
    if match == "exact":
        return response == text
    if match == "contains":
        return text in response
    if match == "startswith":
        return response.startswith(text)
    if match == "endswith":
        return response.endswith(text)
    return _PATTERNS[text].search(response) is not None


def bbh_answer(response: str, sample_id: str) -> int | None:
    """The answer (1 yes/(B), 0 no/(A)) VoiceBench reads from `response`; None where it would guess."""
    rules = TASK_RULES[bbh_task(sample_id)]
    normalized = normalize_bbh_response(response)
    for match, text, answer in rules:
        if _matches(match, text, normalized):
            return answer
    return None


def bbh_reference(reference: str) -> int:
    """The official encoding of a BBH reference: yes -> 1, no -> 0, (A) -> 0, (B) -> 1 (case-insensitive)."""
    try:
        return REFERENCE_ANSWERS[reference.lower()]
    except KeyError:
        raise ValueError(f"BBH reference {reference!r} is none of yes, no, (A), (B)") from None
