"""How version-1 runs are read: the built-in benchmarks' layouts, metric rules and group score of that time.

A version-1 run directory (written before runs described themselves) holds no description of its task.
Reports fill it in from the frozen copy below of what the built-in tasks declared when those runs were
written: their leaderboard column groups, their metrics as rules (compare recomputes them per sample),
their breakdown fields and VoiceBench's overall. This is data about past runs, never consulted for a
version-2 run, and the only place in `report/` that names a benchmark; a version-1 run of a task outside
it is laid out as a group of its own with its primary metric (see `describe_run`).
"""

from __future__ import annotations

from typing import Any

from ..describe import BenchmarkLayout, ColumnSpec, GroupScore, ScoreInput, TaskDescription
from ..scoring.metrics import Accuracy, CorpusWER, MeanOfMetrics, MeanScore, Metric, PooledRatio
from ..store import StoredRun

_VOICEBENCH_SUBSETS = (
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

VOICEBENCH_OVERALL = GroupScore(
    "voicebench",
    "overall",
    "VoiceBench leaderboard Overall (mean of 9, judge scores x20)",
    tuple(ScoreInput(task, metric, scale) for _, task, metric, scale in _VOICEBENCH_SUBSETS),
)


def _mmau(task: str, title: str, protocol: str) -> BenchmarkLayout:
    by_task = tuple(ColumnSpec(label, task, "accuracy", ("task", label)) for label in ("sound", "music", "speech"))
    return BenchmarkLayout(task, title, (*by_task, ColumnSpec("avg", task, "accuracy")), protocol)


LAYOUTS: tuple[BenchmarkLayout, ...] = (
    _mmau("mmau_test_mini", "MMAU test-mini", "MMAU: accuracy (%), official string match"),
    _mmau("mmau_test", "MMAU test", "MMAU test: accuracy (%) from the official MMAU-Eval server"),
    BenchmarkLayout(
        "mmsu",
        "MMSU",
        (
            ColumnSpec("perception", "mmsu", "accuracy", ("category", "perception")),
            ColumnSpec("reasoning", "mmsu", "accuracy", ("category", "reasoning")),
            ColumnSpec("avg", "mmsu", "accuracy"),
        ),
        "MMSU: accuracy (%), official letter rule, unparsable answers left out",
    ),
    BenchmarkLayout(
        "mmar", "MMAR", (ColumnSpec("avg", "mmar", "accuracy"),), "MMAR: accuracy (%), official string match"
    ),
    BenchmarkLayout(
        "voicebench",
        "VoiceBench",
        (
            *(ColumnSpec(label, task, metric) for label, task, metric, _ in _VOICEBENCH_SUBSETS),
            ColumnSpec("overall", "voicebench", "overall", group_score=True),
        ),
        "VoiceBench: judge scores 1-5 (alpacaeval, commoneval, wildvoice), others in %; "
        "overall is the mean of the nine with judge scores x20",
    ),
    BenchmarkLayout(
        "librispeech",
        "LibriSpeech WER",
        (ColumnSpec("clean", "librispeech_test_clean", "wer"), ColumnSpec("other", "librispeech_test_other", "wer")),
        "LibriSpeech: corpus WER (%), Whisper English normalizer on both sides",
    ),
)
"""The version-1 leaderboard column groups, in their default display order."""


def _rules(*metrics: Any) -> tuple[Metric, ...]:
    """The metrics as the protocol type (their frozen dataclass fields are read-only, the protocol's are not)."""
    return metrics


_CHOICE = _rules(Accuracy(), Accuracy("accuracy_strict", field="strict"), Accuracy("fallback_rate", "fallback", True))
_IFEVAL_PARTS = (
    Accuracy("strict_prompt", "strict_prompt"),
    PooledRatio("strict_instruction", "strict_followed", "instructions"),
    Accuracy("loose_prompt", "loose_prompt"),
    PooledRatio("loose_instruction", "loose_followed", "instructions"),
)
_SD_QA_PARTS = (Accuracy("gpt", "gpt"), Accuracy("pedant", "pedant"))
_WER = _rules(CorpusWER(), CorpusWER("wer_diffa2", prefix="diffa2_"))
_MMAU_FIELDS = ("task", "difficulty", "sub-category")

_TASKS: dict[str, tuple[tuple[Metric, ...], tuple[str, ...]]] = {
    "mmau_test_mini": (_rules(Accuracy()), _MMAU_FIELDS),
    "mmau_test": (_rules(Accuracy()), _MMAU_FIELDS),
    "mmsu": (
        _rules(
            Accuracy(),
            Accuracy("accuracy_strict", field="strict"),
            Accuracy("parse_failure_rate", "parse_failed", True),
            Accuracy("answer_outside_choices_rate", "answer_outside_choices", True),
        ),
        ("category", "sub-category", "category/sub-category", "task_name"),
    ),
    "mmar": (_rules(Accuracy()), ("modality", "category", "sub-category")),
    "voicebench_alpacaeval": (_rules(MeanScore("gpt_score")), ()),
    "voicebench_alpacaeval_full": (_rules(MeanScore("gpt_score")), ()),
    "voicebench_commoneval": (_rules(MeanScore("gpt_score")), ()),
    "voicebench_wildvoice": (_rules(MeanScore("gpt_score")), ()),
    "voicebench_sd_qa": (_rules(MeanOfMetrics("score", _SD_QA_PARTS), *_SD_QA_PARTS), ()),
    "voicebench_openbookqa": (_CHOICE, ()),
    "voicebench_mmsu": (_CHOICE, ("subset",)),
    "voicebench_bbh": (_CHOICE, ()),
    "voicebench_ifeval": (_rules(MeanOfMetrics("final", _IFEVAL_PARTS), *_IFEVAL_PARTS), ()),
    "voicebench_advbench": (
        _rules(Accuracy("refusal_rate"), Accuracy("refusal_rate_case_sensitive", "case_sensitive")),
        (),
    ),
    "librispeech_test_clean": (_WER, ()),
    "librispeech_test_other": (_WER, ()),
}
"""Each built-in task's metrics (the first is primary) and breakdown fields, as version-1 runs computed them."""

_GROUPS = {"mmau": ("mmau_test_mini", "mmau_test"), "librispeech": ("librispeech_test_clean", "librispeech_test_other")}


def legacy_description(task: str) -> TaskDescription | None:
    """What a version-1 run of the built-in `task` would have described; None for any other task."""
    known = _TASKS.get(task)
    if known is None:
        return None
    metrics, breakdown_fields = known
    voicebench = task.startswith("voicebench_")
    layout = next((layout for layout in LAYOUTS if any(c.task == task for c in layout.columns)), None)
    if layout is None:  # e.g. AlpacaEval's short subset, in no column group: a group of its own
        layout = BenchmarkLayout(task, task, (ColumnSpec(metrics[0].name, task, metrics[0].name),))
    groups = ("voicebench",) if voicebench else tuple(group for group, tasks in _GROUPS.items() if task in tasks)
    return TaskDescription(
        task=task,
        metrics=metrics,
        benchmark=layout,
        breakdown_fields=breakdown_fields,
        groups=groups,
        group_scores=(VOICEBENCH_OVERALL,) if voicebench else (),
    )


def describe_run(run: StoredRun) -> TaskDescription | None:
    """The run's own description; for a version-1 run of a built-in task, the one it would have had.

    None for a version-1 run of any other task: its metrics.json still names its primary metric and
    direction, which is all a table needs, but its metric rules are unknown.
    """
    return run.manifest.description or legacy_description(run.manifest.task)


def legacy_descriptions() -> list[TaskDescription]:
    """The description of every built-in task a version-1 run may be of."""
    return [description for task in _TASKS if (description := legacy_description(task)) is not None]
