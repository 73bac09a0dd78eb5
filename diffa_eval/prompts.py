"""Prompt texts that several benchmarks share: a model family's wording used on more than one benchmark.

DIFFA's multiple-choice template is the same for MMAU and MMAR, so it lives here, once, rather than in
either benchmark's task; a prompt only one benchmark uses belongs to that benchmark's task (e.g. DIFFA's
VoiceBench instruction, in `tasks/voicebench`). The texts are reproduced exactly (spacing and
punctuation included), because they are part of how the family's published numbers were produced.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

DIFFA_CHOICE_INSTRUCTION = (
    "You are given the audio and a multiple-choice question. "
    "Choose the best answer based only on the speech content and style."
)
"""DIFFA's and DIFFA-2's instruction for MMAU and MMAR (inference_stage2_mmau.py)."""


def lettered(choices: Sequence[str]) -> str:
    """Options one per line as "A. text", "B. text", ..."""
    if len(choices) > len(string.ascii_uppercase):
        raise ValueError(f"at most 26 options can be lettered, got {len(choices)}")
    return "\n".join(f"{letter}. {choice}" for letter, choice in zip(string.ascii_uppercase, choices, strict=False))


def diffa_choice_prompt(question: str, choices: Sequence[str]) -> str:
    """DIFFA's multiple-choice prompt: instruction, question, lettered choices, "Answer:"."""
    return f"{DIFFA_CHOICE_INSTRUCTION}\n\nQuestion: {question}\n\nChoices:\n{lettered(choices)}\nAnswer:"
