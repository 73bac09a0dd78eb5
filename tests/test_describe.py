"""Runs describe themselves: task descriptions, variant settings, sample scope and compute totals in the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.describe import EvalRun, SampleScope, TaskDescription
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.run.variant import variant_info
from diffa_eval.scoring.metrics import metric_from_dict
from diffa_eval.store import SampleRecord, read_run, run_cost
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec, Score

from .stored_runs import write_run


@pytest.mark.parametrize("name", TASKS.names())
def test_every_builtin_task_description_survives_the_manifest_and_computes_the_same_metrics(name: str) -> None:
    task = TASKS.get(name)
    description = task.describe()
    stored = TaskDescription.from_dict(json.loads(json.dumps(description.to_dict())))
    assert stored.to_dict() == description.to_dict()
    scores = [
        Score(float(i % 2), details={"strict": 1.0, "fallback": 0.0, "reference_words": 4.0, "substitutions": 1.0,
                                     "deletions": 0.0, "insertions": 0.0, "hits": 3.0, "gpt": 1.0, "pedant": 0.0,
                                     "case_sensitive": 1.0, "parse_failed": 0.0})
        for i in range(6)
    ]  # fmt: skip
    for original, rebuilt in zip(task.metrics, stored.metrics, strict=True):
        assert rebuilt.compute(scores) == original.compute(scores)


def test_a_metric_of_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(Exception, match="unknown metric kind 'median'"):
        metric_from_dict({"kind": "median", "name": "x"})


class _Adapter:
    prompt_variants = ("diffa",)

    def describe_options(self, options: dict[str, Any]) -> str:
        return "rule " + ",".join(sorted(options))


def test_a_variant_names_only_the_settings_that_differ_from_the_models_default_run() -> None:
    task = TASKS.get("mmau_test_mini")
    diffa = task.select_prompt(("diffa",))
    default = variant_info(_Adapter(), task, diffa, task.generation_for(diffa))  # type: ignore[arg-type]
    assert (default.settings, default.label) == ({}, "")
    official = task.select_prompt(forced="default")
    faster = task.generation_for(diffa).replace(options={"decoding": "threshold"}, seed=5)
    changed = variant_info(_Adapter(), task, official, faster)  # type: ignore[arg-type]
    assert changed.settings == {"prompt": "default", "seed": 5, "options": {"decoding": "threshold"}}
    assert changed.label == "rule decoding, prompt default, seed 5"


def test_a_run_writes_its_description_variant_scope_and_compute_totals(tmp_path: Path) -> None:
    task = TASKS.get("mmau_test_mini")
    options = RunOptions(split="sample", limit=4, output_dir=tmp_path, max_failures=0.25)
    outcome = evaluate([ModelSpec("chance")], [task], options)[0]
    assert outcome.run_dir is not None
    run = read_run(outcome.run_dir)
    assert run.manifest.schema_version == 2
    assert run.manifest.description is not None and run.manifest.description.benchmark.title == "MMAU test-mini"
    assert run.manifest.scope == SampleScope(dataset=10, planned=4, limit=4, max_failures=0.25)
    assert run.manifest.scope.limited
    assert run.manifest.variant is not None and run.manifest.variant.settings == {}
    assert run.metrics is not None and run.metrics.cost is not None
    assert run.metrics.cost.samples == 4 and run.metrics.cost.audio_seconds == pytest.approx(
        sum(r.audio_seconds or 0 for r in run.records())
    )


def test_compute_totals_count_only_samples_with_an_output() -> None:
    records = [
        SampleRecord("a", "a", output="x", seconds=0.5, generated_tokens=4, forward_passes=8),
        SampleRecord("b", "b", output="y", seconds=0.25, generated_tokens=2, forward_passes=None),
        SampleRecord("c", "c", error="bad audio", error_stage="audio", seconds=0.0),
    ]
    cost = run_cost(records)
    assert (cost.samples, cost.seconds, cost.generated_tokens, cost.forward_passes) == (2, 0.75, 6, 8)
    assert run_cost(records[2:]).forward_passes is None


def test_a_version_1_manifest_is_still_read(tmp_path: Path) -> None:
    directory = write_run(tmp_path, "alpha", "mmar", {"accuracy": 50.0})
    data = json.loads((directory / "manifest.json").read_text())
    for key in ("description", "variant", "scope", "judge"):
        data.pop(key, None)
    data["schema_version"] = 1
    manifest = EvalRun.from_dict(data)
    assert (manifest.description, manifest.variant, manifest.scope, manifest.schema_version) == (None, None, None, 1)
