"""Corpus WER after Whisper's English normalizer, and its agreement with OpenAI's reference code; the
WER as DIFFA-2 reports it (WeNet's compute-wer.py), and its agreement with that script when one is named."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import sys
from importlib.resources import files
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from diffa_eval.scoring.metrics import CorpusWER
from diffa_eval.scoring.wer import english_normalizer, wenet_word_errors, wenet_words, word_errors
from diffa_eval.task import TASKS
from diffa_eval.types import Sample, Score

OPENAI_SPELLING_TABLE_SHA256 = "6607f948be9824d2e1b2fa2223cd94c06c45afa4e05ea0e3d5e1f2bdffde2465"


def _score(reference: str, hypothesis: str | None) -> Score:
    task = TASKS.get("librispeech_test_clean")
    return task.score(Sample("u1", None, reference), hypothesis)


def test_an_empty_hypothesis_deletes_every_reference_word() -> None:
    errors = word_errors("the cat sat on the mat", "")  # texts as the normalizer leaves them
    assert errors is not None
    assert (errors.substitutions, errors.deletions, errors.insertions) == (0, 6, 0)
    assert _score("THE CAT SAT", None).value == 1.0


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        ("THE CLOCK STRUCK TWENTY THREE TIMES", "the clock struck 23 times"),
        ("THE COLOUR WAS GREY", "The color was gray."),
        ("MISTER BROWN", "Mr. Brown"),
        ("I AM HERE", "I'm here!"),
        ("SHE DIDN'T KNOW", "she did not know"),
        ("IT COST FIVE DOLLARS AND FIFTY CENTS", "It cost $5.50"),
        ("HELLO WORLD", "uh hello [noise] world (laughs)"),
    ],
)
def test_the_normalizer_forgives_formatting(reference: str, hypothesis: str) -> None:
    assert _score(reference, hypothesis).value == 0.0


def test_a_reference_that_normalizes_to_nothing_is_left_out() -> None:
    score = _score("(LAUGHTER) UM", "something")
    assert score.value is None
    assert CorpusWER().compute([score]) is None


def test_corpus_wer_sums_edits_rather_than_averaging_utterances() -> None:
    sentence = "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG AGAIN AND AGAIN"
    long = _score(sentence, sentence.lower())
    short = _score("HELLO THERE", "")
    value = CorpusWER().compute([long, short])
    assert value is not None
    # 2 deletions over 12 + 2 reference words, not the mean of 0% and 100%
    assert value.value == pytest.approx(100 * 2 / 14)
    assert value.details["deletions"] == 2
    assert value.details["reference_words"] == 14
    assert value.lower_is_better


def test_substitutions_deletions_and_insertions_are_counted() -> None:
    errors = word_errors("a b c d", "a x c d e")
    assert errors is not None
    assert (errors.substitutions, errors.deletions, errors.insertions, errors.hits) == (1, 0, 1, 3)
    assert (errors.errors, errors.reference_words) == (2, 4)


def test_the_spelling_table_is_openais() -> None:
    table = files("whisper_normalizer").joinpath("normalizers/english.json").read_bytes()
    assert hashlib.sha256(table).hexdigest() == OPENAI_SPELLING_TABLE_SHA256


def _openai_normalizers() -> ModuleType:
    """OpenAI's whisper/normalizers package, loaded without importing whisper itself (no torch)."""
    spec = importlib.util.find_spec("whisper")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("openai-whisper is not installed (make test installs it)")
    folder = f"{next(iter(spec.submodule_search_locations))}/normalizers"
    package = importlib.util.spec_from_file_location(
        "openai_whisper_normalizers", f"{folder}/__init__.py", submodule_search_locations=[folder]
    )
    assert package is not None and package.loader is not None
    module = importlib.util.module_from_spec(package)
    sys.modules["openai_whisper_normalizers"] = module
    package.loader.exec_module(module)
    return module


WORDS = (
    "I'm won't can't colour Mr. Dr st $5.50 £3 twenty three one hundred and five 1,000 3.14 10% hmm um "
    "[noise] (laugh) café naïve ninety-nine first 21st one and a half half a million it's they've we'd "
    "you'll ain't gonna theatre organise analysed a b o'clock 1990s 2,500,000 fifty cents point five oh "
    "double seven THE OF AND grey neighbour honour"
).split()


def _random_text(rng: random.Random) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 12)))
    return text.upper() if rng.random() < 0.5 else text


def test_normalizer_matches_openais_on_random_text() -> None:
    reference = _openai_normalizers().EnglishTextNormalizer()
    ours = english_normalizer()
    rng = random.Random(20261122)
    for _ in range(3000):
        text = _random_text(rng)
        assert ours(text) == reference(text), text


def test_corpus_wer_matches_openai_normalizer_plus_jiwer() -> None:
    import jiwer

    normalize = _openai_normalizers().EnglishTextNormalizer()
    rng = random.Random(7)
    pairs = [(_random_text(rng), _random_text(rng) if rng.random() < 0.8 else "") for _ in range(400)]
    kept = [(normalize(r), normalize(h)) for r, h in pairs if normalize(r).strip()]
    expected = 100 * jiwer.wer([r for r, _ in kept], [h for _, h in kept])
    scores: list[Any] = [_score(r, h) for r, h in pairs]
    value = CorpusWER().compute(scores)
    assert value is not None
    assert value.n == len(kept)
    assert value.value == pytest.approx(expected, abs=1e-9)


COMPUTE_WER = os.environ.get("DIFFA_EVAL_COMPUTE_WER")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, world.", ["HELLO,", "WORLD."]),  # punctuation stays on its word
        (", hello !world", ["HELLO", "WORLD"]),  # ! , ? are dropped only where a word starts
        ("it's twenty-three o'clock", ["IT'S", "TWENTY-THREE", "O'CLOCK"]),
        ("uh <unk> fine<noise>", ["UH", "FINE"]),  # tags are removed
        ("café naïve", ["CAF", "É", "NA", "ÏVE"]),  # a non-ASCII letter starts a word
        ("你好 world", ["你", "好", "WORLD"]),  # each CJK character is a word
        ("\tA  b\r\n", ["A", "B"]),
    ],
)
def test_diffa2_words_are_compute_wers(text: str, words: list[str]) -> None:
    assert wenet_words(text) == words


def test_diffa2_alignment_breaks_ties_as_compute_wer_does() -> None:
    # counts as compute-wer.py --char=1 prints them for these pairs (N, C, S, D, I)
    for reference, hypothesis, counts in [
        ("A B C", "x a b", (3, 2, 0, 1, 1)),
        ("THE CAT SAT", "cat the sat", (3, 2, 0, 1, 1)),
        ("HELLO WORLD", ", hello, <unk> World.", (2, 0, 2, 0, 0)),
        ("", "stray words", (0, 0, 0, 0, 2)),
        ("ALL GONE", "", (2, 0, 0, 2, 0)),
    ]:
        errors = wenet_word_errors(reference, hypothesis)
        found = (errors.reference_words, errors.hits, errors.substitutions, errors.deletions, errors.insertions)
        assert found == counts, (reference, hypothesis)


def test_librispeech_reports_diffa2s_wer_beside_whisper_s() -> None:
    task = TASKS.get("librispeech_test_clean")
    assert [metric.name for metric in task.metrics] == ["wer", "wer_diffa2"]
    pairs = [
        ("MISTER BROWN SAID IT'S TWENTY THREE", "Mister Brown said it's twenty-three."),
        ("HELLO WORLD", "Hello, world."),
        ("(LAUGHTER) UM", "um"),  # Whisper's protocol leaves it out; DIFFA-2's counts it
    ]
    scores = [_score(reference, hypothesis) for reference, hypothesis in pairs]
    whisper, diffa2 = (metric.compute(scores) for metric in task.metrics)
    assert whisper is not None and diffa2 is not None
    assert (whisper.value, whisper.n) == (0.0, 2)
    # MR/BROWN... : TWENTY-THREE. for TWENTY THREE (1 sub, 1 del); HELLO, WORLD. (2 subs); (LAUGHTER) deleted
    assert (diffa2.details["substitutions"], diffa2.details["deletions"], diffa2.details["reference_words"]) == (
        3, 2, 10,
    )  # fmt: skip
    assert (diffa2.value, diffa2.n, diffa2.lower_is_better) == (50.0, 3, True)
    first = task.metrics[1].compute(scores[:1])
    assert first is not None and first.value == pytest.approx(100 * 2 / 6)  # 33 points above Whisper's 0


@pytest.mark.skipif(not COMPUTE_WER, reason="set DIFFA_EVAL_COMPUTE_WER to a copy of WeNet's tools/compute-wer.py")
def test_diffa2_wer_counts_are_compute_wers_on_generated_utterances() -> None:
    spec = importlib.util.spec_from_file_location(
        "parity_wer", Path(__file__).resolve().parent.parent / "scripts" / "parity_wer.py"
    )
    assert spec and spec.loader
    parity = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(parity)
    pairs = parity.make_pairs(500, seed=11)
    theirs, overall = parity.reference_counts(Path(COMPUTE_WER or ""), pairs)
    ours = parity.our_counts(pairs)
    assert ours == theirs
    assert tuple(sum(column) for column in zip(*ours, strict=True)) == overall
