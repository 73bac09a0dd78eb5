"""VoiceBench scorers: its evaluators wrapped as per-sample Scores, with both protocols.

Rule-based subsets score each sample under the `official` protocol (`Score.value`; where the
official evaluator guesses at random, a guess seeded by the sample id) and record the
`strict` verdict (a fallback is wrong) and the fallback flag in `Score.details`, so tasks
report accuracy, accuracy_strict and fallback_rate side by side. Judge-scored subsets are
`BatchScorer`s: they ask the run's LLM judge for all samples at once, cache every
verdict, and store the judge's model, endpoint, prompt hash and replies with each score.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ...errors import DataError, DiffaEvalError
from ...types import Sample, Score, Unscored
from ..judge import JudgeClient, JudgeFailure, JudgeSettings, JudgeVerdict, open_prompt, open_score, qa_prompt, qa_vote
from .bbh import bbh_answer, bbh_reference
from .fallback import seeded_choice
from .harm import refuses
from .ifeval import ifeval_check
from .mcq import mcq_letter

log = logging.getLogger(__name__)


def _fallback_score(correct: bool, guessed: bool, guess_correct: bool) -> Score:
    return Score(
        float(guess_correct if guessed else correct),
        details={"strict": float(correct and not guessed), "fallback": float(guessed)},
        explanation="no answer found: the official evaluator guesses (seeded by sample id)" if guessed else None,
    )


class VoiceBenchChoice:
    name = "voicebench_mcq"
    description = "VoiceBench multiple-choice template matcher (openbookqa, mmsu); a seeded guess when nothing matches."

    def __call__(self, sample: Sample, prediction: str | None) -> Score:
        letter = mcq_letter(prediction or "")
        guess = seeded_choice(sample.id, "ABCD") if letter is None else letter
        score = _fallback_score(letter == sample.reference, letter is None, guess == sample.reference)
        return Score(score.value, letter, score.details, score.explanation)


class VoiceBenchBBH:
    name = "voicebench_bbh"
    description = "VoiceBench BBH phrase rules per task (quirks kept); a seeded yes/no guess when nothing matches."

    def __call__(self, sample: Sample, prediction: str | None) -> Score:
        if sample.reference is None:
            raise DataError(f"BBH item {sample.id} has no reference")
        task_id = str(sample.fields.get("id", sample.id))
        answer = bbh_answer(prediction or "", task_id)
        expected = bbh_reference(sample.reference)
        guess = seeded_choice(sample.id, (0, 1)) if answer is None else answer
        score = _fallback_score(answer == expected, answer is None, guess == expected)
        return Score(score.value, None if answer is None else str(answer), score.details, score.explanation)


class VoiceBenchRefusal:
    name = "voicebench_refusal"
    description = "VoiceBench advbench refusal list (case-insensitive since 2025-06-02; the older case-sensitive too)."

    def __call__(self, sample: Sample, prediction: str | None) -> Score:
        text = prediction or ""
        return Score(float(refuses(text)), details={"case_sensitive": float(refuses(text, case_sensitive=True))})


class VoiceBenchIFEval:
    name = "voicebench_ifeval"
    description = "IFEval instruction checks (Google's, via lm-eval) strict and loose, as VoiceBench cleans responses."

    def __call__(self, sample: Sample, prediction: str | None) -> Score:
        ids = [str(i) for i in sample.fields.get("instruction_id_list") or ()]
        kwargs: list[dict[str, Any]] = [dict(k or {}) for k in sample.fields.get("kwargs") or ()]
        result = ifeval_check(prediction or "", ids, kwargs, str(sample.fields.get("prompt", "")))
        return Score(
            float(result.strict_prompt),
            details={
                "strict_prompt": float(result.strict_prompt),
                "loose_prompt": float(result.loose_prompt),
                "strict_followed": float(sum(result.strict)),
                "loose_followed": float(sum(result.loose)),
                "instructions": float(len(ids)),
            },
        )


class _JudgeScorer(ABC):
    """Shared by the judge-scored subsets: build prompts, ask the judge, turn verdicts into scores."""

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


def _judgement(verdict: JudgeVerdict) -> dict[str, Any]:
    return {
        "model": verdict.model,
        "endpoint": verdict.endpoint,
        "prompt_sha256": verdict.prompt_sha256,
        "replies": list(verdict.texts),
    }


class VoiceBenchOpenJudge(_JudgeScorer):
    name = "voicebench_open_judge"
    description = "VoiceBench open-ended rubric: an LLM judge rates the response 1-5 (3 samples), mean rating."

    def judge_prompt(self, sample: Sample, prediction: str) -> str:
        return open_prompt(str(sample.fields.get("prompt", "")), prediction)

    def verdict_score(self, sample: Sample, prediction: str, verdict: JudgeVerdict) -> Score:
        rating = open_score(verdict.texts)
        return Score(rating, details={"rating": rating}, judgement=_judgement(verdict))


class VoiceBenchQAJudge(_JudgeScorer):
    name = "voicebench_qa_judge"
    description = (
        "VoiceBench sd-qa: LLM judge Yes/No majority of 3, and PEDANT (qa-metrics 0.2.17); score = their mean."
    )

    def judge_prompt(self, sample: Sample, prediction: str) -> str:
        return qa_prompt(str(sample.fields.get("prompt", "")), sample.reference or "", prediction)

    def verdict_score(self, sample: Sample, prediction: str, verdict: JudgeVerdict) -> Score | Unscored:
        from ...errors import MissingDependencyError
        from ..pedant import PedantModelMismatch, pedant_correct

        gpt = float(qa_vote(verdict.texts))
        try:
            pedant = float(pedant_correct(sample.reference or "", prediction, str(sample.fields["prompt"])))
        except PedantModelMismatch as error:
            return Unscored(f"SD-QA's PEDANT model is not the pinned one: {error}")  # a failure, not a wait
        except (MissingDependencyError, DataError) as error:
            # The official score needs both halves; the judge's verdict is cached, so scoring later is free.
            return Unscored(f"SD-QA needs PEDANT as well as the judge: {error}", pending=True)
        return Score(gpt, details={"gpt": gpt, "pedant": pedant}, judgement=_judgement(verdict))


VOICEBENCH_SCORERS = (
    VoiceBenchChoice(),
    VoiceBenchBBH(),
    VoiceBenchRefusal(),
    VoiceBenchIFEval(),
    VoiceBenchOpenJudge(),
    VoiceBenchQAJudge(),
)
