"""MMSU's scoring protocol: the official letter rule, with the strict and format-error counts beside it.

The letter itself is read by `diffa_eval.scoring.letters.mmsu_letter` (the official `mmsu_evaluation.py`
rule); this scorer decides what counts: the official protocol leaves format errors and responses that
are not text out of the denominator, the strict one counts them wrong.
"""

from __future__ import annotations

from diffa_eval.errors import DataError
from diffa_eval.scoring.letters import LETTERS, LetterStatus, mmsu_letter
from diffa_eval.types import Sample, Score


class MMSULetter:
    name = "mmsu_letter"
    description = (
        "MMSU official letter rule: first character A-D, else the second-to-last; correct when that option's "
        "text equals the answer. Official protocol leaves format errors and non-text responses out; `strict` "
        "counts them wrong."
    )

    def __call__(self, sample: Sample, prediction: str | None) -> Score:
        """`prediction` None is a response that is not text (JSON null, a number): the official scorer
        cannot read it and leaves the record out; DIFFA's scorer reads it as empty, hence wrong."""
        if sample.reference is None:
            raise DataError(f"item {sample.id} has no answer to score against")
        # An answer that is none of the options (or two of them) is scored as is: no letter, or
        # either letter, names it, as in the official comparison of option text with answer text.
        outside = float(sample.reference not in sample.choices)
        if prediction is None:
            return Score(
                None,
                details={"strict": 0.0, "parse_failed": 1.0, "answer_outside_choices": outside},
                explanation="response is not text: the official scorer leaves the record out",
            )
        answer = mmsu_letter(prediction)
        options = dict(zip(LETTERS, sample.choices, strict=False))
        correct = float(answer.letter is not None and options.get(answer.letter) == sample.reference)
        unparsable = answer.status is LetterStatus.UNPARSABLE
        return Score(
            None if unparsable else correct,
            extracted=answer.letter,
            details={
                "strict": correct,
                "parse_failed": float(answer.status is not LetterStatus.PARSED),
                "answer_outside_choices": outside,
            },
            explanation="format error: the official scorer leaves the record out" if unparsable else None,
        )
