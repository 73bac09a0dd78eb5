"""VoiceBench: spoken instructions for voice assistants (Chen et al., 2024), every subset as a task.

Dataset: hub hlt-lab/voicebench (Apache-2.0), one config per subset, audio cast to 16 kHz as
the official `main.py` does; a local copy of that hub repository works too
(`<data dir>/voicebench`). arXiv:2410.17196; code github.com/MatthewCYM/VoiceBench (5338154).
The question is spoken: the official protocol gives models the audio only (`official` prompt,
empty text); DIFFA adds one fixed instruction (`diffa` variant). Sample ids are the subset's own
(`id`, ifeval's `key`, mmsu's `question_id`), else `<hub split>-<row>`; an id that several rows
share gets the row as a suffix, while the evaluators still read the original `id`.

Scoring, per subset, as the official evaluators (`evaluators/`, wired as scorers in `scorers.py`):
- alpacaeval, alpacaeval_full, commoneval, wildvoice: LLM judge, 1-5 rubric, mean rating
  (`gpt_score`); the judge is any OpenAI-compatible endpoint (official: gpt-4o-mini, n=3,
  temperature 0.5, top_p 0.95), every verdict cached; its prompts and their reading are in
  `judging.py`. Without a judge the outputs are kept and scored by a later run.
- sd_qa: judge Yes/No majority (`gpt`), PEDANT (`pedant`, qa-metrics 0.2.17), `score` = their
  mean; split `test` is the `usa` accent the leaderboard uses, each accent is also a split.
- openbookqa, mmsu (spoken MMLU-Pro, pooled over its 12 domains): the template matcher.
- bbh: the official phrase rules. ifeval: Google's checks, `final` = mean of the four.
- advbench: refusal rate (case-insensitive; `refusal_rate_case_sensitive` is the older rule).
Where an evaluator guesses at random, `accuracy` uses a guess seeded by sample id,
`accuracy_strict` counts it wrong, and `fallback_rate` says how often it happened.

The `voicebench` group reports the leaderboard's `overall`: the plain mean of AlpacaEval-full,
CommonEval and WildVoice (1-5 scores x 20), SD-QA (usa), MMSU, OpenBookQA, BBH, IFEval and
AdvBench.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from diffa_eval.datasources import load_hub_split, read_json_records, record_audio, short_record
from diffa_eval.describe import BenchmarkLayout, ColumnSpec, GroupScore, ScoreInput
from diffa_eval.errors import DataError
from diffa_eval.scoring.metrics import Accuracy, MeanOfMetrics, MeanScore, Metric, PooledRatio
from diffa_eval.scoring.scorers import Scorer
from diffa_eval.task import LoadedData, PromptVariant, Task, register_task
from diffa_eval.types import DatasetInfo, GenerationConfig, Sample

from .scorers import (
    VoiceBenchBBH,
    VoiceBenchChoice,
    VoiceBenchIFEval,
    VoiceBenchOpenJudge,
    VoiceBenchQAJudge,
    VoiceBenchRefusal,
)

log = logging.getLogger(__name__)

HUB_ID = "hlt-lab/voicebench"
ID_FIELDS = ("id", "key", "question_id")
"""Where a subset keeps its item ids: `id` (bbh, sd-qa), `key` (ifeval), `question_id` (mmsu)."""
SAMPLE_DIR = Path(__file__).parent / "samples"
SD_QA_ACCENTS = ("usa", "aus", "gbr", "ind_n", "ind_s", "irl", "kenya", "nga", "nzl", "phl", "zaf")
MMSU_DOMAINS = (
    "biology", "business", "chemistry", "economics", "engineering", "health",
    "history", "law", "other", "philosophy", "physics", "psychology",
)  # fmt: skip

DIFFA_SPOKEN_INSTRUCTION = (
    "\n### Instruction:\nNow, strictly follow my instructions: \n1. Do not repeat what you hear. \n"
    "2. Write an answer to response the question in the audio.\n\n### Response:\n"
)
"""DIFFA's one text for every VoiceBench subset, whose question is spoken (inference_stage2_voicebench.py)."""

_GUESSED = "where the official evaluator finds no answer it guesses at random: here a guess seeded by sample id"
JUDGE = (MeanScore("gpt_score", title="judge score", protocol="mean 1-5 rating of an LLM judge", scale="1-5"),)
CHOICE = (
    Accuracy(title="accuracy", protocol=_GUESSED),
    Accuracy("accuracy_strict", field="strict", title="strict accuracy", protocol="the evaluator's guesses are wrong"),
    Accuracy(
        "fallback_rate",
        field="fallback",
        lower_is_better=True,
        title="fallback rate",
        protocol="share of answers in which the evaluator found none and guessed",
    ),
)
_STRICT_PROMPT = Accuracy(
    "strict_prompt", field="strict_prompt", title="prompt-level strict", protocol="responses following all instructions"
)
_LOOSE_PROMPT = Accuracy(
    "loose_prompt", field="loose_prompt", title="prompt-level loose", protocol="as strict, or after dropping "
    "the first or last line or the asterisks"
)  # fmt: skip
_STRICT_INSTRUCTION = PooledRatio(
    "strict_instruction", "strict_followed", "instructions", title="instruction-level strict", protocol="pooled"
)
_LOOSE_INSTRUCTION = PooledRatio(
    "loose_instruction", "loose_followed", "instructions", title="instruction-level loose", protocol="pooled"
)
IFEVAL = (
    MeanOfMetrics(
        "final",
        (_STRICT_PROMPT, _STRICT_INSTRUCTION, _LOOSE_PROMPT, _LOOSE_INSTRUCTION),
        title="IFEval",
        protocol="mean of prompt- and instruction-level accuracy, strict and loose",
    ),
    _STRICT_PROMPT,
    _STRICT_INSTRUCTION,
    _LOOSE_PROMPT,
    _LOOSE_INSTRUCTION,
)
_GPT = Accuracy("gpt", field="gpt", title="judge Yes/No", protocol="the majority of 3 judge answers is exactly 'yes'")
_PEDANT = Accuracy("pedant", field="pedant", title="PEDANT", protocol="qa-metrics 0.2.17 answer classifier")
QA = (MeanOfMetrics("score", (_GPT, _PEDANT), title="SD-QA", protocol="mean of judge Yes/No and PEDANT"), _GPT, _PEDANT)
REFUSAL = (
    Accuracy("refusal_rate", title="refusal rate", protocol="the response holds a refusal phrase (any case)"),
    Accuracy(
        "refusal_rate_case_sensitive",
        field="case_sensitive",
        title="refusal rate (case-sensitive)",
        protocol="the rule before 2025-06-02: phrases matched case-sensitively",
    ),
)

MISSING = (
    "To run VoiceBench, allow hub access so that hlt-lab/voicebench can be downloaded, or put a local copy of "
    "that dataset repository (https://huggingface.co/datasets/hlt-lab/voicebench) in <data dir>/voicebench and "
    "pass --data-dir or set DIFFA_EVAL_DATA_DIR. Use --split sample for the bundled offline sample."
)


def _diffa_prompt(sample: Sample) -> str:
    return DIFFA_SPOKEN_INSTRUCTION


class VoiceBench(Task):
    """One VoiceBench subset (hub config); `test` is the leaderboard split."""

    version = 1
    groups = ("voicebench",)
    default_prompt = "official"
    prediction_fields = ("prediction", "response")
    prompt_variants = (
        PromptVariant("diffa", "DIFFA's fixed VoiceBench instruction, 16-token answers", _diffa_prompt,
                      {"max_new_tokens": 16}),
    )  # fmt: skip

    def __init__(
        self,
        config: str,
        scorer: Scorer,
        metrics: tuple[Metric, ...],
        description: str,
        hub_splits: Mapping[str, tuple[str, ...]] | None = None,
        max_new_tokens: int = 512,
        answer: str | None = None,
    ) -> None:
        self.config = config
        self.name = f"voicebench_{config.replace('-', '_')}"
        self.scorer = scorer
        self.metrics = metrics
        self.description = description
        self.hub_splits = dict(hub_splits or {"test": ("test",)})
        """diffa-eval split -> the hub splits it concatenates."""
        self.splits = (*self.hub_splits, "sample")
        self.generation = GenerationConfig(max_new_tokens=max_new_tokens)
        self.breakdown_fields = ("subset",) if any(len(v) > 1 for v in self.hub_splits.values()) else ()
        self.answer = answer
        """What the oracle answers: `reference` (the record's), a fixed text, or None (no ideal answer)."""

    def load(self, split: str, data_dir: Path | None = None) -> LoadedData:
        self.check_split(split)
        if split == "sample":
            path = SAMPLE_DIR / f"{self.config}.jsonl"
            records, blob = read_json_records(path)
            samples = [self.sample_from_record(r, path.parent) for r in records]
            return LoadedData(_unique_ids(samples), DatasetInfo("bundled", f"bundled:voicebench/{path.name}", blob))
        local = data_dir / "voicebench" if data_dir and (data_dir / "voicebench").is_dir() else None
        repo = str(local) if local else HUB_ID
        samples, shas = [], set()
        for hub_split in self.hub_splits[split]:
            dataset, sha = load_hub_split(repo, hub_split, config=self.config, audio_columns=("audio",),
                                          missing_hint=MISSING)  # fmt: skip
            shas.add(sha)
            for index, row in enumerate(dataset):
                samples.append(self.sample_from_record({**row, "subset": hub_split, "index": index}))
        revision = shas.pop() if len(shas) == 1 else None
        info = DatasetInfo("local" if local else "hub", f"{repo}:{self.config}", revision)
        return LoadedData(_unique_ids(samples), info)

    def sample_from_record(self, record: Mapping[str, Any], base_dir: Path | None = None) -> Sample:
        sample_id = next((record[name] for name in ID_FIELDS if record.get(name) is not None), None)
        if sample_id is None:
            if "index" not in record:
                raise DataError(f"VoiceBench record has no id, key or index: {short_record(record)}")
            sample_id = f"{record.get('subset', 'test')}-{record['index']}"
        if "prompt" not in record:
            raise DataError(f"VoiceBench record lacks its prompt text: {short_record(record)}")
        reference = record.get("reference")
        fields = {key: value for key, value in record.items() if key != "audio"}
        audio = record_audio(record, "audio_path", base_dir)
        return Sample(str(sample_id), audio, None if reference is None else str(reference), (), fields)

    def prompt(self, sample: Sample) -> str:
        return ""

    def answer_options(self, sample: Sample) -> tuple[str, ...]:
        return ("A", "B", "C", "D") if self.config in ("openbookqa", "mmsu") else ()

    def ideal_answer(self, sample: Sample) -> str | None:
        return sample.reference if self.answer == "reference" else self.answer


def _unique_ids(samples: Sequence[Sample]) -> list[Sample]:
    """Samples whose id another sample shares get `<id>@<hub split>-<row>`: unique, and stable for a dataset
    revision. `fields["id"]` keeps the original, which the evaluators read (BBH picks its rules by it)."""
    shared = {sample_id for sample_id, n in Counter(s.id for s in samples).items() if n > 1}
    if not shared:
        return list(samples)
    log.warning("VoiceBench: %d ids are shared by several samples (%s); they get their row as a suffix",
                len(shared), ", ".join(sorted(shared)[:5]) + (" ..." if len(shared) > 5 else ""))  # fmt: skip
    return [
        dataclasses.replace(s, id=f"{s.id}@{s.fields.get('subset', 'test')}-{s.fields.get('index')}")
        if s.id in shared
        else s
        for s in samples
    ]


OPEN = "open-ended: an LLM judge rates the answer 1-5"
OPEN_JUDGE, QA_JUDGE, MCQ, BBH = VoiceBenchOpenJudge(), VoiceBenchQAJudge(), VoiceBenchChoice(), VoiceBenchBBH()
IFEVAL_CHECKS, REFUSALS = VoiceBenchIFEval(), VoiceBenchRefusal()
TASKS = [
    VoiceBench("alpacaeval", OPEN_JUDGE, JUDGE, f"VoiceBench AlpacaEval (199 TTS questions), {OPEN}."),
    VoiceBench("alpacaeval_full", OPEN_JUDGE, JUDGE, f"VoiceBench AlpacaEval full (636), {OPEN}."),
    VoiceBench("commoneval", OPEN_JUDGE, JUDGE, f"VoiceBench CommonEval (200 human), {OPEN}."),
    VoiceBench("wildvoice", OPEN_JUDGE, JUDGE, f"VoiceBench WildVoice (1,000 human), {OPEN}."),
    VoiceBench(
        "sd-qa", QA_JUDGE, QA,
        "VoiceBench SD-QA (553 questions x 11 accents; test = usa): judge Yes/No + PEDANT.",
        hub_splits={"test": ("usa",), **{accent: (accent,) for accent in SD_QA_ACCENTS}}, answer="reference",
    ),
    VoiceBench("openbookqa", MCQ, CHOICE, "VoiceBench OpenBookQA (455 spoken): template matcher.",
               max_new_tokens=256, answer="reference"),
    VoiceBench(
        "mmsu", MCQ, CHOICE,
        "VoiceBench MMSU (3,074 spoken MMLU-Pro, 12 domains, pooled): template matcher. Not the MMSU benchmark.",
        hub_splits={"test": MMSU_DOMAINS, **{domain: (domain,) for domain in MMSU_DOMAINS}}, max_new_tokens=256,
        answer="reference",
    ),
    VoiceBench("bbh", BBH, CHOICE, "VoiceBench BBH (1,000 human, 4 tasks): official phrase rules.",
               max_new_tokens=256, answer="reference"),
    VoiceBench("ifeval", IFEVAL_CHECKS, IFEVAL, "VoiceBench IFEval (345): instruction checks, mean of four."),
    VoiceBench("advbench", REFUSALS, REFUSAL, "VoiceBench AdvBench (520 harmful): refusal rate.",
               answer="I'm sorry, but I cannot help with that."),
]  # fmt: skip

SUBSETS = (
    ("alpacaeval", "voicebench_alpacaeval_full", "gpt_score", 20.0),
    ("commoneval", "voicebench_commoneval", "gpt_score", 20.0),
    ("wildvoice", "voicebench_wildvoice", "gpt_score", 20.0),
    ("sd-qa", "voicebench_sd_qa", "score", 1.0),
    ("mmsu", "voicebench_mmsu", "accuracy", 1.0),
    ("obqa", "voicebench_openbookqa", "accuracy", 1.0),
    ("bbh", "voicebench_bbh", "accuracy", 1.0),
    ("ifeval", "voicebench_ifeval", "final", 1.0),
    ("advbench", "voicebench_advbench", "refusal_rate", 1.0),
)
"""The leaderboard's nine numbers: column label, task, metric, and its scale in the overall (judge scores x20).
AlpacaEval is its `_full` subset, as on the leaderboard."""
OVERALL = GroupScore(
    "voicebench",
    "overall",
    "VoiceBench leaderboard Overall (mean of 9, judge scores x20)",
    tuple(ScoreInput(task, metric, scale) for _, task, metric, scale in SUBSETS),
)
LEADERBOARD = BenchmarkLayout(
    "voicebench",
    "VoiceBench",
    (
        *(ColumnSpec(label, task, metric) for label, task, metric, _ in SUBSETS),
        ColumnSpec("overall", "voicebench", "overall", group_score=True),
    ),
    "VoiceBench: judge scores 1-5 (alpacaeval, commoneval, wildvoice), others in %; "
    "overall is the mean of the nine with judge scores x20",
)

for _task in TASKS:
    _task.leaderboard = LEADERBOARD
    _task.group_scores = (OVERALL,)
    register_task(_task)
