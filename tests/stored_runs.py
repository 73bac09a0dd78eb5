"""Run directories written directly, so report outputs are fixed and fast to build: `write_run` writes the
version-1 form (no self-description), `write_run_v2` the version-2 form."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from diffa_eval.describe import EvalRun, SampleScope, TaskDescription, VariantInfo, single_column_layout
from diffa_eval.report.legacy import legacy_description
from diffa_eval.scoring.metrics import Accuracy, CorpusWER
from diffa_eval.store import SampleRecord, run_cost
from diffa_eval.types import DatasetInfo, GenerationConfig, MetricValue, RunCost, TaskMetrics, stable_hash

Value = float | tuple[float, float, float]
"""A metric value, or (value, ci_low, ci_high)."""

LOWER_IS_BETTER = {"wer"}


def _metric(name: str, value: Value, n: int) -> MetricValue:
    v, low, high = value if isinstance(value, tuple) else (value, None, None)
    return MetricValue(v, n, low, high, lower_is_better=name in LOWER_IS_BETTER)


def write_run(
    root: Path,
    model: str,
    task: str,
    metrics: Mapping[str, Value],
    *,
    breakdowns: Mapping[str, Mapping[str, Mapping[str, Value]]] | None = None,
    split: str = "test",
    records: Sequence[SampleRecord] = (),
    n_failed: int = 0,
    finished_at: str = "2026-01-01T00:00:00+00:00",
    options: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    max_failures: float = 0.0,
) -> Path:
    """A completed version-1 run directory (no self-description, no cost totals) with the given metrics
    (first one primary) and sample records; version 1 does not record `max_failures`."""
    manifest, task_metrics = _run(
        model, task, metrics, breakdowns, split, records, n_failed, finished_at, options, run_id, "cpu", 1
    )
    data = {**manifest.to_dict(), "schema_version": 1}
    for key in ("description", "variant", "scope", "judge"):
        del data[key]
    results = task_metrics.to_dict()
    del results["cost"]
    results["schema_version"] = 1
    return _write(root, manifest, data, results, records)


def write_run_v2(
    root: Path,
    model: str,
    task: str,
    metrics: Mapping[str, Value],
    *,
    breakdowns: Mapping[str, Mapping[str, Mapping[str, Value]]] | None = None,
    split: str = "test",
    records: Sequence[SampleRecord] = (),
    n_failed: int = 0,
    finished_at: str = "2026-01-01T00:00:00+00:00",
    options: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    description: TaskDescription | None = None,
    variant: VariantInfo | None = None,
    scope: SampleScope | None = None,
    cost: RunCost | None = None,
    device: str = "cpu",
    task_version: int = 1,
    max_failures: float = 0.0,
    model_info: Mapping[str, Any] | None = None,
) -> Path:
    """A completed version-2 run directory: as `write_run`, plus the task's description (by default the
    built-in task's, else one column of the first metric), the variant (default: the model's default
    settings), the sample scope (default: every sample of the split, `max_failures` allowed) and the cost
    totals (default: summed from `records`)."""
    manifest, task_metrics = _run(
        model, task, metrics, breakdowns, split, records, n_failed, finished_at, options, run_id, device, task_version
    )
    if description is None:
        rules: tuple[Any, ...] = tuple(
            CorpusWER(name) if name in LOWER_IS_BETTER else Accuracy(name) for name in metrics
        )
        description = legacy_description(task) or TaskDescription(task, rules, single_column_layout(task, rules))
    manifest = replace(
        manifest,
        description=description,
        variant=variant or VariantInfo(),
        scope=scope or SampleScope(task_metrics.n_samples, task_metrics.n_samples, max_failures=max_failures),
        model_info=dict(model_info or {}),
    )
    task_metrics = replace(task_metrics, cost=cost or run_cost(records))
    return _write(root, manifest, manifest.to_dict(), task_metrics.to_dict(), records)


def _run(
    model: str,
    task: str,
    metrics: Mapping[str, Value],
    breakdowns: Mapping[str, Mapping[str, Mapping[str, Value]]] | None,
    split: str,
    records: Sequence[SampleRecord],
    n_failed: int,
    finished_at: str,
    options: Mapping[str, Any] | None,
    run_id: str | None,
    device: str,
    task_version: int,
) -> tuple[EvalRun, TaskMetrics]:
    run_id = run_id or f"{model}-{task}-{split}-{finished_at}".replace(":", "")
    n = max(len(records), 10)
    manifest = EvalRun(
        run_id=run_id,
        model=model,
        task=task,
        task_version=task_version,
        split=split,
        generation=GenerationConfig(options=dict(options or {})),
        dataset=DatasetInfo("hub", f"example/{task}", "0123456789abcdef0123456789abcdef01234567"),
        seed=0,
        device=device,
        started_at="2026-01-01T00:00:00+00:00",
        status="complete",
        finished_at=finished_at,
    )
    task_metrics = TaskMetrics(
        metrics={name: _metric(name, value, n) for name, value in metrics.items()},
        breakdowns={
            field: {label: {m: _metric(m, v, n) for m, v in values.items()} for label, values in labels.items()}
            for field, labels in (breakdowns or {}).items()
        },
        n_samples=n,
        n_scored=n - n_failed,
        n_excluded=0,
        n_failed=n_failed,
        primary_metric=next(iter(metrics)),
    )
    return manifest, task_metrics


def _write(
    root: Path, manifest: EvalRun, data: Mapping[str, Any], results: Mapping[str, Any], records: Sequence[SampleRecord]
) -> Path:
    directory = root / manifest.model / f"{manifest.task}-{manifest.split}-{stable_hash(manifest.run_id)[:8]}"
    directory.mkdir(parents=True)
    (directory / "manifest.json").write_text(json.dumps(data))
    (directory / "metrics.json").write_text(json.dumps(results))
    (directory / "samples.jsonl").write_text("".join(record.to_json() + "\n" for record in records))
    return directory


def accuracy_records(correct: Sequence[int], seconds: float = 0.1, passes: int | None = None) -> list[SampleRecord]:
    """One scored record per item, sample ids s0, s1, ...; 1 = right, 0 = wrong."""
    return [
        SampleRecord(key=f"k{i}", sample_id=f"s{i}", output="x", score=float(v), seconds=seconds, forward_passes=passes)
        for i, v in enumerate(correct)
    ]


def wer_records(errors_and_words: Sequence[tuple[int, int]]) -> list[SampleRecord]:
    """One scored utterance per (word errors, reference words), all errors as substitutions."""
    return [
        SampleRecord(
            key=f"k{i}",
            sample_id=f"u{i}",
            output="x",
            score=errors / words,
            score_details={
                "substitutions": errors,
                "deletions": 0,
                "insertions": 0,
                "hits": words - errors,
                "reference_words": words,
            },
            seconds=0.1,
        )
        for i, (errors, words) in enumerate(errors_and_words)
    ]


def paper_runs(root: Path, writer: Callable[..., Path] = write_run) -> Path:
    """Three models on MMAU test-mini, MMSU and LibriSpeech, with ties and a lower-is-better metric."""
    mmau = {
        "alpha": (60.0, {"sound": 70.0, "music": 55.0, "speech": 55.0}),
        "beta": (64.5, {"sound": 66.0, "music": 61.0, "speech": 66.5}),
        "gamma": (58.25, {"sound": 70.0, "music": 50.0, "speech": 54.75}),
    }
    for model, (avg, by_task) in mmau.items():
        writer(
            root,
            model,
            "mmau_test_mini",
            {"accuracy": (avg, avg - 3.0, avg + 3.0)},
            breakdowns={"task": {label: {"accuracy": v} for label, v in by_task.items()}},
        )
    mmsu = {"alpha": (52.0, 60.0, 44.0), "beta": (55.1, 58.0, 52.2), "gamma": (50.0, 61.0, 39.0)}
    for model, (avg, perception, reasoning) in mmsu.items():
        writer(
            root,
            model,
            "mmsu",
            {"accuracy": avg, "accuracy_strict": avg - 1, "parse_failure_rate": 1.0},
            breakdowns={"category": {"perception": {"accuracy": perception}, "reasoning": {"accuracy": reasoning}}},
            n_failed=1 if model == "gamma" else 0,
            max_failures=0.1,
        )
    wer = {"alpha": (2.5, 5.0), "beta": (3.1, 4.2), "gamma": (2.2, 6.0)}
    for model, (clean, other) in wer.items():
        writer(root, model, "librispeech_test_clean", {"wer": (clean, clean - 0.2, clean + 0.3)})
        writer(root, model, "librispeech_test_other", {"wer": other})
    return root


SUITE_TASKS = {
    "mmau_test_mini": ("accuracy", "task", ("sound", "music", "speech")),
    "mmsu": ("accuracy", "category", ("perception", "reasoning")),
    "mmar": ("accuracy", "modality", ("sound", "music", "speech", "sound-music", "sound-speech")),
    "voicebench_alpacaeval_full": ("gpt_score", None, ()),
    "voicebench_commoneval": ("gpt_score", None, ()),
    "voicebench_wildvoice": ("gpt_score", None, ()),
    "voicebench_sd_qa": ("score", None, ()),
    "voicebench_mmsu": ("accuracy", None, ()),
    "voicebench_openbookqa": ("accuracy", None, ()),
    "voicebench_bbh": ("accuracy", None, ()),
    "voicebench_ifeval": ("final", None, ()),
    "voicebench_advbench": ("refusal_rate", None, ()),
    "librispeech_test_clean": ("wer", None, ()),
    "librispeech_test_other": ("wer", None, ()),
}
"""The sample suite's tasks: primary metric, breakdown field and its labels."""

SUITE_MODELS = {
    # row: (model, variant label, seconds per sample, forward passes per sample, a baseline)
    "chance": ("chance", "", 1e-5, 0, True),
    "oracle": ("oracle", "", 2e-6, 0, True),
    "diffa-tiny": ("diffa-tiny", "", 1.9, 64, False),
    "diffa-tiny · threshold+dual-cache τ=0.9": ("diffa-tiny", "threshold+dual-cache τ=0.9", 0.45, 14, False),
    "qwen2-audio-tiny": ("qwen2-audio-tiny", "", 0.3, 16, False),
}


def suite_records(task: str, row: str, seconds: float, passes: int, audio: Path) -> list[SampleRecord]:
    """Six samples of every kind a report shows: right, wrong, failed, waiting for a judge, not counted, and
    one more right or wrong by the row; one prompt per sample shared by every model, audio on disk."""
    metric, field, labels = SUITE_TASKS[task]
    wer = metric == "wer"
    records = []
    for i in range(6):
        right = i == 0 or (i == 5 and len(row) % 2 == 0)
        common = {
            "key": f"{task}-{i}",
            "sample_id": f"{task}-s{i}",
            "prompt": f"Question {i} of {task}: what is heard? Choices: A, B, C, D",
            "reference": "the reference transcript" if wer else "A",
            "groups": {field: labels[i % len(labels)]} if field else {},
            "seconds": seconds,
            "forward_passes": passes,
            "audio_path": str(audio),
        }
        if i == 2:
            records.append(SampleRecord(**common, error="RuntimeError: out of memory", error_stage="model"))
        elif i == 3:
            records.append(SampleRecord(**common, output="a long answer", pending="no judge configured"))
        elif i == 4:
            records.append(SampleRecord(**common, output="unparsable", extracted=None, score=None))
        else:
            output = ("the reference transcript" if right else "another transcript") if wer else ("A" if right else "B")
            score = (0.0 if right else 0.5) if wer else (4.0 if metric == "gpt_score" else 1.0 if right else 0.0)
            records.append(SampleRecord(**common, output=output, extracted=output, score=score))
    return records


def suite_runs(root: Path) -> Path:
    """The sample suite as `table` sees it: chance, oracle (baselines), diffa-tiny in two decoding modes and
    qwen2-audio-tiny on MMAU test-mini, MMSU, MMAR, VoiceBench's nine and LibriSpeech, with their cost."""
    import random

    import numpy as np
    import soundfile as sf

    audio = root / "audio" / "clip.wav"
    audio.parent.mkdir(parents=True)
    sf.write(audio, np.zeros(1600, dtype=np.float32), 16000)
    for row, (model, label, seconds, passes, baseline) in SUITE_MODELS.items():
        variant = (
            VariantInfo({"options": {"decoding": "threshold+dual-cache", "threshold": 0.9}}, label) if label else None
        )
        for task, (metric, field, labels) in SUITE_TASKS.items():
            draw = random.Random(f"{row}/{task}")
            scale = 5.0 if metric == "gpt_score" else 100.0
            top = (0.0 if metric == "wer" else scale) if model == "oracle" else None
            value = top if top is not None else round(draw.uniform(0.2, 0.9) * scale, 2)
            breakdowns = (
                {
                    field: {
                        name: {metric: value if top is not None else round(draw.uniform(20, 90), 2)} for name in labels
                    }
                }
                if field
                else None
            )
            write_run_v2(
                root / "runs",
                model,
                task,
                {metric: value},
                breakdowns=breakdowns,
                split="sample",
                records=suite_records(task, row, seconds, passes, audio),
                variant=variant,
                run_id=f"{row}-{task}",
                model_info={"kind": "baseline"} if baseline else {},
                max_failures=1.0,
            )
    return root / "runs"
