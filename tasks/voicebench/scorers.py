"""VoiceBench scorers: its evaluators wrapped as per-sample Scores, with both protocols.

Rule-based subsets score each sample under the `official` protocol (`Score.value`; where the
official evaluator guesses at random, a guess seeded by the sample id) and record the
`strict` verdict (a fallback is wrong) and the fallback flag in `Score.details`, so tasks
report accuracy, accuracy_strict and fallback_rate side by side. Judge-scored subsets are
`BatchScorer`s: they ask the run's LLM judge for all samples at once, cache every
verdict, and store the judge's model, endpoint, prompt hash and replies with each score.
"""

from __future__ import annotations

from typing import Any

from diffa_eval.errors import DataError, MissingDependencyError
from diffa_eval.scoring.judge import JudgeScorer, JudgeVerdict, judgement
from diffa_eval.types import Sample, Score, Unscored

from .evaluators import bbh_answer, bbh_reference, ifeval_check, mcq_letter, refuses, seeded_choice
from .judging import open_prompt, open_score, qa_prompt, qa_vote


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


class VoiceBenchOpenJudge(JudgeScorer):
    name = "voicebench_open_judge"
    description = "VoiceBench open-ended rubric: an LLM judge rates the response 1-5 (3 samples), mean rating."

    def judge_prompt(self, sample: Sample, prediction: str) -> str:
        return open_prompt(str(sample.fields.get("prompt", "")), prediction)

    def verdict_score(self, sample: Sample, prediction: str, verdict: JudgeVerdict) -> Score:
        rating = open_score(verdict.texts)
        return Score(rating, details={"rating": rating}, judgement=judgement(verdict))


class VoiceBenchQAJudge(JudgeScorer):
    name = "voicebench_qa_judge"
    description = (
        "VoiceBench sd-qa: LLM judge Yes/No majority of 3, and PEDANT (qa-metrics 0.2.17); score = their mean."
    )

    def judge_prompt(self, sample: Sample, prediction: str) -> str:
        return qa_prompt(str(sample.fields.get("prompt", "")), sample.reference or "", prediction)

    def verdict_score(self, sample: Sample, prediction: str, verdict: JudgeVerdict) -> Score | Unscored:
        from diffa_eval.scoring.pedant import PedantModelMismatch, pedant_correct

        gpt = float(qa_vote(verdict.texts))
        try:
            pedant = float(pedant_correct(sample.reference or "", prediction, str(sample.fields["prompt"])))
        except PedantModelMismatch as error:
            return Unscored(f"SD-QA's PEDANT model is not the pinned one: {error}")  # a failure, not a wait
        except (MissingDependencyError, DataError) as error:
            # The official score needs both halves; the judge's verdict is cached, so scoring later is free.
            return Unscored(f"SD-QA needs PEDANT as well as the judge: {error}", pending=True)
        return Score(gpt, details={"gpt": gpt, "pedant": pedant}, judgement=judgement(verdict))
