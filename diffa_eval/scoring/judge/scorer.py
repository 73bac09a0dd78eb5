"""The shape of a scorer whose verdicts come from an LLM judge; a benchmark supplies its prompt and its reading.

`JudgeScorer` is a `BatchScorer`: it builds one judge prompt per prediction, asks the configured judge
for all of them at once (cached, retried; see `JudgeClient`), and turns each verdict into a Score.
The judge is the run's (`RunOptions.judge`); without a configured one every item stays pending,
so its output is kept and scored by a later run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ...errors import DataError, DiffaEvalError
from ...types import Sample, Score, Unscored
from .client import JudgeClient, JudgeFailure, JudgeVerdict
from .settings import JudgeSettings


class JudgeScorer(ABC):
    """Builds prompts, asks the judge, turns verdicts into scores; subclasses say what to ask and how to read it."""

    name: str
    description: str

    def __call__(self, sample: Sample, prediction: str | None) -> Score:
        result = self.score_batch([(sample, prediction)])[0]
        if isinstance(result, Unscored):
            raise DataError(result.reason)
        return result

    @abstractmethod
    def judge_prompt(self, sample: Sample, prediction: str) -> str:
        """The text sent to the judge for one prediction."""

    @abstractmethod
    def verdict_score(self, sample: Sample, prediction: str, verdict: JudgeVerdict) -> Score | Unscored:
        """The score the judge's replies give (Unscored when something else it needs is missing)."""

    def score_batch(
        self, items: Sequence[tuple[Sample, str | None]], judge: JudgeSettings | None = None
    ) -> list[Score | Unscored]:
        """Score every item with `judge` (the run's judge; None: the one the environment names), whose API key
        comes from the environment only now, per request batch, so that it is never part of a run's options."""
        settings = (judge if judge is not None else JudgeSettings.chosen()).with_key_from_env()
        if not settings.configured:
            return [Unscored(settings.how_to_configure, pending=True) for _ in items]
        client = JudgeClient(settings)
        prompts = [self.judge_prompt(sample, prediction or "") for sample, prediction in items]
        verdicts = client.judge_many(prompts)
        results: list[Score | Unscored] = []
        for (sample, prediction), verdict in zip(items, verdicts, strict=True):
            if isinstance(verdict, JudgeFailure):
                results.append(Unscored(f"judge failed after {verdict.attempts} requests: {verdict.message}"))
                continue
            try:
                results.append(self.verdict_score(sample, prediction or "", verdict))
            except DiffaEvalError as error:
                results.append(Unscored(str(error)))
        return results


def judgement(verdict: JudgeVerdict) -> dict[str, Any]:
    """What a Score keeps of the verdict it came from: the judge's model, endpoint, request hash and replies."""
    return {
        "model": verdict.model,
        "endpoint": verdict.endpoint,
        "prompt_sha256": verdict.prompt_sha256,
        "replies": list(verdict.texts),
    }
