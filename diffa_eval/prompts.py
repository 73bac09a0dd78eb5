"""Prompt texts that several benchmarks share: model families' own evaluation prompts.

Tasks build their prompt variants from these, so that a family's wording lives in one place.
The texts are reproduced exactly (spacing and punctuation included), because they are part
of how the family's published numbers were produced.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

DIFFA_CHOICE_INSTRUCTION = (
    "You are given the audio and a multiple-choice question. "
    "Choose the best answer based only on the speech content and style."
)
"""DIFFA's and DIFFA-2's instruction for MMAU and MMAR (inference_stage2_mmau.py)."""

DIFFA_SPOKEN_INSTRUCTION = (
    "\n### Instruction:\nNow, strictly follow my instructions: \n1. Do not repeat what you hear. \n"
    "2. Write an answer to response the question in the audio.\n\n### Response:\n"
)
"""DIFFA's one text for every VoiceBench subset, whose question is spoken (inference_stage2_voicebench.py)."""


def lettered(choices: Sequence[str]) -> str:
    """Options one per line as "A. text", "B. text", ..."""
    if len(choices) > len(string.ascii_uppercase):
        raise ValueError(f"at most 26 options can be lettered, got {len(choices)}")
    return "\n".join(f"{letter}. {choice}" for letter, choice in zip(string.ascii_uppercase, choices, strict=False))


def diffa_choice_prompt(question: str, choices: Sequence[str]) -> str:
    """DIFFA's multiple-choice prompt: instruction, question, lettered choices, "Answer:"."""
    return f"{DIFFA_CHOICE_INSTRUCTION}\n\nQuestion: {question}\n\nChoices:\n{lettered(choices)}\nAnswer:"
