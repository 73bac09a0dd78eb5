"""The official MMAU/MMAR answer-text matcher, case by case."""

from __future__ import annotations

import pytest

from diffa_eval.scoring.choice import token_set_match, word_set

PETS = ["A dog barking", "A cat meowing", "A bird singing", "Silence"]
GENDER = ["Man", "Woman", "Child", "Robot"]
NOTES = ["C major", "A minor", "B flat major", "G major"]

# (prediction, answer, choices, correct)
CASES = [
    ("Man", "Man", GENDER, True),
    ("man", "Man", GENDER, True),
    ("The speaker is a man.", "Man", GENDER, True),
    ("MAN!!!", "Man", GENDER, True),
    ("B", "Woman", GENDER, False),  # a letter alone names no option
    ("Answer: A", "Man", GENDER, False),
    ("A. Man", "Man", GENDER, True),  # "a" is not a word of any option
    ("Man or woman", "Man", GENDER, False),  # names a distractor too
    ("Woman", "Man", GENDER, False),
    ("", "Man", GENDER, False),
    ("   ", "Man", GENDER, False),
    ("...", "Man", GENDER, False),  # no word tokens at all
    (None, "Man", GENDER, False),
    ("A dog barking", "A dog barking", PETS, True),
    ("dog barking", "A dog barking", PETS, False),  # the answer's "a" is missing
    ("A. A dog barking", "A dog barking", PETS, True),  # "a" belongs to the answer
    ("B. A cat meowing", "A cat meowing", PETS, True),  # "b" is in no option, so it is harmless
    ("Silence", "Silence", PETS, True),
    ("A. Silence", "Silence", PETS, False),  # "a" is a distractor word here
    ("C major", "C major", NOTES, True),
    ("The chord is C major, not G major.", "C major", NOTES, False),  # "g" is a distractor word
    ("C major. It sounds bright and stable.", "C major", NOTES, True),
    ("It is B flat major", "B flat major", NOTES, True),
    ("b flat MAJOR", "B flat major", NOTES, True),
    ("A minor", "A minor", NOTES, True),
    ("minor", "A minor", NOTES, False),
]


@pytest.mark.parametrize(("prediction", "answer", "choices", "correct"), CASES)
def test_official_string_match(prediction: str | None, answer: str, choices: list[str], correct: bool) -> None:
    assert token_set_match(prediction, answer, choices) is correct


def test_options_with_the_same_words_as_the_answer_are_not_distractors() -> None:
    choices = ["left then right", "right then left", "only left"]
    assert token_set_match("right then left", "left then right", choices)
    assert not token_set_match("only left then right", "left then right", choices)


def test_words_are_unicode_aware_and_lowercased() -> None:
    assert word_set("Café, ÉTÉ; naïve-words_2") == {"café", "été", "naïve", "words_2"}
