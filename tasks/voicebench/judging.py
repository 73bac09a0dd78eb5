"""VoiceBench's judge prompts and how its evaluators read the judge's answers.

VoiceBench (`MatthewCYM/VoiceBench`, `api_judge.py`) asks its judge for n=3 answers to one of two
prompts per item: a 1-5 rating of an answer to an open instruction (alpacaeval, commoneval,
wildvoice) or a Yes/No verdict on an answer to a question with a reference (sd-qa). `open_score` and
`qa_vote` read those answers as its `open` and `qa` evaluators do. The judge's settings (gpt-4o-mini,
temperature 0.5, top_p 0.95, max_tokens 1024, its system message) are the defaults of
`diffa_eval.scoring.judge.JudgeSettings`, which sends the prompts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from diffa_eval.scoring.judge import JudgeOutputError

OPEN_PROMPT_TEMPLATE = (
    "\n"
    "I need your help to evaluate the performance of several models in the speech interaction scenario. "
    "The models will receive a speech input from the user, which they need to understand and respond to "
    "with a speech output.\n"
    "Your task is to rate the model’s responses based on the provided user input transcription "
    "[Instruction] and the model’s output transcription [Response].\n"
    "\n"
    "Please evaluate the response on a scale of 1 to 5:\n"
    "1 point: The response is largely irrelevant, incorrect, or fails to address the user’s query. It "
    "may be off-topic or provide incorrect information.\n"
    "2 points: The response is somewhat relevant but lacks accuracy or completeness. It may only "
    "partially answer the user’s question or include extraneous information.\n"
    "3 points: The response is relevant and mostly accurate, but it may lack conciseness or include "
    "unnecessary details that don’t contribute to the main point.\n"
    "4 points: The response is relevant, accurate, and concise, providing a clear answer to the user’s "
    "question without unnecessary elaboration.\n"
    "5 points: The response is exceptionally relevant, accurate, and to the point. It directly addresses "
    "the user’s query in a highly effective and efficient manner, providing exactly the information "
    "needed.\n"
    "\n"
    "Below are the transcription of user’s instruction and models’ response:\n"
    "### [Instruction]: {prompt}\n"
    "### [Response]: {response}\n"
    "\n"
    "After evaluating, please output the score only without anything else.\n"
    "You don’t need to provide any explanations.\n"
)
"""VoiceBench's `meta_prompt_open`, character for character (curly apostrophes, leading and trailing newline)."""

QA_PROMPT_TEMPLATE = (
    "### Question\n"
    "{prompt}\n"
    "\n"
    "### Reference answer\n"
    "{reference}\n"
    "\n"
    "### Candidate answer\n"
    "{response}\n"
    "\n"
    "Is the candidate answer correct based on the question and reference answer? \n"
    'Please only output a single "Yes" or "No". Do not output anything else.'
)
"""VoiceBench's `meta_prompt_qa`, character for character (note the space before the first line break)."""


def open_prompt(instruction: str, response: str) -> str:
    """The open-ended rubric prompt for one item, filled by plain replacement as VoiceBench does.

    Braces in the texts are safe. As in the official script, the placeholders are replaced one after
    the other, so an instruction that itself contains the text "{response}" gets the response there too.
    """
    return OPEN_PROMPT_TEMPLATE.replace("{prompt}", instruction).replace("{response}", response)


def qa_prompt(question: str, reference: str, response: str) -> str:
    """The sd-qa Yes/No prompt for one item, filled by plain replacement in VoiceBench's order."""
    return (
        QA_PROMPT_TEMPLATE.replace("{prompt}", question)
        .replace("{reference}", reference)
        .replace("{response}", response)
    )


_RATING = re.compile(r"\[\[(\d+)\]\]")


def open_rating(text: str) -> float:
    """One judge answer to the open-ended rubric as VoiceBench's `open` evaluator reads it.

    The whole answer as a number (Python's `float`, so " 4 " and "4.5" are numbers too), else the first
    "[[n]]" in it; anything else raises JudgeOutputError, where the official evaluator stops. "nan" and
    "inf" parse as floats but are no rating: they raise too, as the official mean would be meaningless.
    """
    try:
        rating = float(text)
    except ValueError:
        match = _RATING.search(text)
        if match is None:
            raise JudgeOutputError(f"the judge's answer has no score: {text[:200]!r}") from None
        return float(int(match.group(1)))
    if not math.isfinite(rating):
        raise JudgeOutputError(f"the judge's answer is not a finite score: {text[:200]!r}")
    return rating


def open_score(texts: Iterable[str]) -> float:
    """The mean rating of judge answers (1-5); VoiceBench's subset score is this over all answers of all items."""
    ratings = [open_rating(text) for text in texts]
    if not ratings:
        raise JudgeOutputError("no judge answers to score")
    return math.fsum(ratings) / len(ratings)


def qa_vote(texts: Sequence[str]) -> bool:
    """VoiceBench's `qa` majority vote: True when the most frequent lowercased answer is exactly "yes".

    No stripping of punctuation: "Yes." is not "yes". On a tie for the most frequent answer (with n=3,
    only when all three answers differ, e.g. "Yes", "No", "Yes.") the official
    `max(set(answers), key=answers.count)` returns whichever tied answer the set yields first, which
    depends on Python's per-process string hash seed, so the official outcome of a tie is not
    reproducible; here a tie never counts as "yes".
    """
    if not texts:
        raise JudgeOutputError("no judge answers to vote on")
    counts = Counter(text.lower() for text in texts)
    most = max(counts.values())
    leaders = [answer for answer, count in counts.items() if count == most]
    return leaders == ["yes"]
