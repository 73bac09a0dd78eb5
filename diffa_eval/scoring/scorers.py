"""Scorers: one sample's prediction -> Score; the rules several benchmarks share are registered by name.

Each scorer reproduces one official scoring rule. `SCORERS` holds the shared ones (MMAU's and
MMAR's string match, withheld answers, Whisper's WER); a rule only one benchmark uses lives with
that benchmark's task, which holds its scorer object (e.g. MMSU's letter rule, VoiceBench's
evaluators). `prediction` is None when a predictions file has no model text for a record (as the
task reads it, see `Task.prediction_of`); each scorer handles that as its official script does.
Scorers that call a service (an LLM judge) are `BatchScorer`s: they score many predictions at
once, concurrently, and the runner calls them after generation, with the run's judge settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ..errors import DataError
from ..registry import Registry
from ..types import Sample, Score, Unscored
from .choice import token_set_match
from .wer import NORMALIZER, english_normalizer, word_errors

if TYPE_CHECKING:
    from .judge import JudgeSettings


@runtime_checkable
class Scorer(Protocol):
    """Scores one prediction; pure and deterministic."""

    name: str
    description: str

    def __call__(self, sample: Sample, prediction: str | None) -> Score: ...


@runtime_checkable
class BatchScorer(Scorer, Protocol):
    """A scorer that calls a service; it scores a whole list at once and may leave items unscored.
    `judge` is the LLM judge to ask (None: the default one, see `JudgeSettings.chosen`)."""

    def score_batch(
        self, items: Sequence[tuple[Sample, str | None]], judge: JudgeSettings | None = None
    ) -> list[Score | Unscored]: ...


class ChoiceTextMatch:
    name = "choice_text_match"
    description = (
        "MMAU/MMAR official string match: the answer's words present, no distractor-only word; "
        "records without a prediction are skipped."
    )

    def __call__(self, sample: Sample, prediction: str | None) -> Score:
        if sample.reference is None:
            raise DataError(f"item {sample.id} has no answer to score against")
        if prediction is None:
            return Score(None, explanation="no prediction: the official scorer skips the record")
        return Score(float(token_set_match(prediction, sample.reference, sample.choices)), extracted=prediction)


class HiddenAnswers:
    name = "hidden_answers"
    description = "No score: the benchmark withholds its answers; predictions go to the official submission file."

    def __call__(self, sample: Sample, prediction: str | None) -> Score:
        return Score(None, extracted=prediction, explanation="answers are withheld: submit the predictions file")


class WhisperWER:
    name = "whisper_wer"
    description = (
        "Word errors after Whisper's English normalizer; empty normalized references are left out, "
        "a missing or empty hypothesis deletes every word."
    )

    def __call__(self, sample: Sample, prediction: str | None) -> Score:
        if sample.reference is None:
            raise DataError(f"item {sample.id} has no reference transcript")
        normalize = english_normalizer()
        hypothesis = normalize(prediction or "")
        errors = word_errors(normalize(sample.reference), hypothesis)
        if errors is None:
            return Score(None, explanation=f"reference is empty after the {NORMALIZER} normalizer")
        return Score(errors.errors / errors.reference_words, extracted=hypothesis, details=errors.as_details())


SCORERS: Registry[Scorer] = Registry(
    "scorer", accept=lambda obj: None if isinstance(obj, Scorer) else "expected a Scorer"
)
for _scorer in (ChoiceTextMatch(), HiddenAnswers(), WhisperWER()):
    SCORERS.register(_scorer.name, _scorer, description=_scorer.description)
