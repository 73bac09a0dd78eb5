"""Word error rate as the Whisper paper and the Open ASR Leaderboard compute it.

Both sides pass through Whisper's English text normalizer (transformers' maintained
implementation, with OpenAI's British-to-American spelling table); items whose normalized
reference is empty are dropped; an empty hypothesis counts every reference word as deleted;
the corpus WER is total edits over total reference words, never a mean of per-utterance rates.
"""

from __future__ import annotations

import json
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
