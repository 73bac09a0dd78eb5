"""Word error rate as the Whisper paper and the Open ASR Leaderboard compute it, and as WeNet's
`tools/compute-wer.py` does (the rule DIFFA-2 reports LibriSpeech with).

Whisper's: both sides pass through Whisper's English text normalizer (transformers' maintained
implementation, with OpenAI's British-to-American spelling table); items whose normalized
reference is empty are dropped; an empty hypothesis counts every reference word as deleted;
the corpus WER is total edits over total reference words, never a mean of per-utterance rates.

WeNet's (`--char=1`, case-insensitive, as DIFFA-2's `run_asr_inference.sh` calls it): no
normalization beyond upper-casing; a line is cut into words at spaces, punctuation staying on
the word it touches (only `!`, `,`, `?` and CJK marks are dropped, and only where a word would
start); a non-ASCII letter starts a new word and each CJK character is a word; `<...>` tags
are removed. Edits are counted on its own alignment, whose ties prefer a deletion, then an
insertion, then a substitution, so that substitution, deletion and insertion counts match
the script's too.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

NORMALIZER = "whisper-english"
"""Name recorded with every WER: Whisper's EnglishTextNormalizer."""


@lru_cache(maxsize=1)
def english_normalizer() -> Callable[[str], str]:
    """Whisper's EnglishTextNormalizer, loaded once."""
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    spelling = json.loads(files("whisper_normalizer").joinpath("normalizers/english.json").read_text())
    normalizer: Callable[[str], str] = EnglishTextNormalizer(spelling)  # type: ignore[no-untyped-call]
    return normalizer


@dataclass(frozen=True)
class WordErrors:
    """Word-level alignment counts of one hypothesis against one reference."""

    substitutions: int
    deletions: int
    insertions: int
    hits: int

    @property
    def reference_words(self) -> int:
        return self.substitutions + self.deletions + self.hits

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    def as_details(self) -> dict[str, float]:
        return {
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "hits": self.hits,
            "reference_words": self.reference_words,
        }


def word_errors(reference: str, hypothesis: str) -> WordErrors | None:
    """Align two already normalized texts word by word; None when the reference has no words."""
    reference_words = reference.split()
    hypothesis_words = hypothesis.split()
    if not reference_words:
        return None
    if not hypothesis_words:
        return WordErrors(0, len(reference_words), 0, 0)
    import jiwer

    out = jiwer.process_words(" ".join(reference_words), " ".join(hypothesis_words))
    return WordErrors(out.substitutions, out.deletions, out.insertions, out.hits)


WENET_SKIPPED_PUNCTUATION = frozenset("!,?、。！，；？：「」︰『』《》")
"""Marks that compute-wer.py drops where a word would start (elsewhere they stay in the word)."""
_SPACES = frozenset(" \t\r\n")


def wenet_words(text: str) -> list[str]:
    """The words compute-wer.py reads from `text` with `--char=1`, upper-cased, tags removed."""
    words: list[str] = []
    start = 0
    while start < len(text):
        char = text[start]
        category = unicodedata.category(char)
        if char in WENET_SKIPPED_PUNCTUATION or char in _SPACES or category in ("Zs", "Cn"):
            start += 1
            continue
        if category == "Lo":  # a CJK character (or other letter without case) is a word by itself
            end = start + 1
        else:  # up to a space or a non-ASCII character; a tag "<...>" up to its ">"
            stop = ">" if char == "<" else " "
            end = start + 1
            while end < len(text) and ord(text[end]) < 128 and text[end] not in _SPACES and text[end] != stop:
                end += 1
            if end < len(text) and text[end] == ">":
                end += 1
        words.append(text[start:end])
        start = end
    upper = (_without_tags(word.upper()) for word in words)
    return [word for word in upper if word]


def _without_tags(word: str) -> str:
    """The word without any "<...>" part (an unclosed "<" removes the rest)."""
    kept, inside = [], False
    for char in word:
        if char == "<":
            inside = True
        elif inside:
            inside = char != ">"
        else:
            kept.append(char)
    return "".join(kept)


def wenet_word_errors(reference: str, hypothesis: str) -> WordErrors:
    """Align the two texts' `wenet_words` as compute-wer.py does: unit costs, ties resolved in favour
    of a deletion, then an insertion, then a match or substitution; an empty reference counts the
    hypothesis as insertions."""
    ref, hyp = wenet_words(reference), wenet_words(hypothesis)
    # cost[i][j], step[i][j]: edits to turn ref[:i] into hyp[:j], and the last edit on that path
    cost = [[0] * (len(hyp) + 1) for _ in range(len(ref) + 1)]
    step = [["ins"] * (len(hyp) + 1) for _ in range(len(ref) + 1)]
    for i in range(1, len(ref) + 1):
        cost[i][0], step[i][0] = i, "del"
    for j in range(1, len(hyp) + 1):
        cost[0][j] = j
    for i in range(1, len(ref) + 1):
        for j in range(1, len(hyp) + 1):
            best, edit = cost[i - 1][j] + 1, "del"
            if cost[i][j - 1] + 1 < best:
                best, edit = cost[i][j - 1] + 1, "ins"
            same = ref[i - 1] == hyp[j - 1]
            if cost[i - 1][j - 1] + (not same) < best:
                best, edit = cost[i - 1][j - 1] + (not same), "hit" if same else "sub"
            cost[i][j], step[i][j] = best, edit
    counts = {"hit": 0, "sub": 0, "del": 0, "ins": 0}
    i, j = len(ref), len(hyp)
    while i or j:
        edit = step[i][j]
        counts[edit] += 1
        i -= edit != "ins"
        j -= edit != "del"
    return WordErrors(counts["sub"], counts["del"], counts["ins"], counts["hit"])
