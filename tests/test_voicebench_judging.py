"""VoiceBench's judge prompts, character for character, and its evaluators' reading of the judge's answers."""

from __future__ import annotations

import hashlib

import pytest

from diffa_eval.errors import DiffaEvalError
from diffa_eval.scoring.judge import JudgeOutputError
from diffa_eval.task import builtin_module

judging = builtin_module("voicebench.judging")
OPEN_PROMPT_TEMPLATE, QA_PROMPT_TEMPLATE = judging.OPEN_PROMPT_TEMPLATE, judging.QA_PROMPT_TEMPLATE
open_prompt, qa_prompt = judging.open_prompt, judging.qa_prompt
open_rating, open_score, qa_vote = judging.open_rating, judging.open_score, judging.qa_vote


def test_prompts_are_voicebench_api_judge_templates_character_for_character() -> None:
    # sha256 of meta_prompt_open and meta_prompt_qa in MatthewCYM/VoiceBench@5338154:api_judge.py
    assert hashlib.sha256(OPEN_PROMPT_TEMPLATE.encode()).hexdigest() == (
        "98f2e9919fbad61f1cab0c2492f53519412d97faeead126c756d73355552bd1e"
    )
    assert hashlib.sha256(QA_PROMPT_TEMPLATE.encode()).hexdigest() == (
        "b89c3ec54556c16e6a111586a215d8b9d2cbbbb2d334c2604d84f7102ec398b0"
    )


def test_open_prompt_fills_instruction_and_response_by_plain_replacement_so_braces_are_safe() -> None:
    prompt = open_prompt("Format {name} as JSON: {}", 'Here: {"name": "x"} and {0}')
    assert "### [Instruction]: Format {name} as JSON: {}\n" in prompt
    assert '### [Response]: Here: {"name": "x"} and {0}\n' in prompt
    assert prompt.startswith("\nI need your help") and prompt.endswith("explanations.\n")


def test_qa_prompt_fills_question_reference_and_response() -> None:
    prompt = qa_prompt("who wrote {hamlet}?", "shakespeare", "William Shakespeare")
    assert prompt.startswith("### Question\nwho wrote {hamlet}?\n\n### Reference answer\nshakespeare\n\n")
    assert "### Candidate answer\nWilliam Shakespeare\n\nIs the candidate answer correct" in prompt


def test_an_open_ended_rating_is_the_answer_as_a_number_else_the_double_bracketed_number() -> None:
    assert open_rating("4") == 4.0
    assert open_rating("4.5") == 4.5
    assert open_rating("Rating: [[3]]") == 3.0
    assert open_rating("[[2]] or maybe [[5]]") == 2.0


def test_an_open_ended_answer_without_a_score_is_an_error() -> None:
    with pytest.raises(JudgeOutputError, match="no score"):
        open_rating("The response is excellent.")
    with pytest.raises(DiffaEvalError):
        open_score(["4", "Score: 4"])


def test_the_open_ended_score_is_the_mean_of_all_ratings() -> None:
    assert open_score(["4", "5", "[[3]]"]) == 4.0
    assert open_score(["1", "2"]) == 1.5
    with pytest.raises(JudgeOutputError):
        open_score([])


@pytest.mark.parametrize(
    ("texts", "correct"),
    [
        (["Yes", "yes", "No"], True),
        (["No", "no", "Yes"], False),
        (["YES", "Yes", "yes"], True),
        (["Yes.", "Yes.", "Yes"], False),  # no punctuation stripping: the majority is "yes."
        (["Yes", "No", "Maybe"], False),  # a three-way tie never counts as "yes"
        (["Yes", "No"], False),
        (["Yes"], True),
    ],
)
def test_a_qa_verdict_is_correct_when_the_lowercased_majority_is_exactly_yes(texts: list[str], correct: bool) -> None:
    assert qa_vote(texts) is correct


def test_a_qa_vote_needs_answers() -> None:
    with pytest.raises(JudgeOutputError):
        qa_vote([])
