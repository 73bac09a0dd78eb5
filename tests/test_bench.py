"""`diffa-eval bench`: exact decoding as the baseline, every fast mode measured against it, JSON and a table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffa_eval.bench import run_bench, synthetic_workload
from diffa_eval.cli import app
from diffa_eval.models.base import GenerationRequest
from diffa_eval.types import GenerationConfig, ModelOutput

runner = CliRunner()
FIELDS = {
    "samples_per_second",
    "generated_tokens_per_second",
    "forward_passes_per_sample",
    "full_passes_per_sample",
    "latency_mean",
    "latency_p50",
    "latency_p95",
    "peak_memory_bytes",
    "speedup_vs_exact",
    "agreement_with_exact",
    "agreement_with_batch_1",
    "eos_stop",
}


def bench(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    output = tmp_path / "bench.json"
    common = ["bench", "--device", "cpu", "--warmup", "0", "--batch-size", "2", "--output", str(output)]
    result = runner.invoke(app, [*common, *args])
    assert result.exit_code == 0, result.output
    assert "speedup" in result.output and "agree w/ batch 1" in result.output and "EOS stop" in result.output
    data: dict = json.loads(output.read_text())  # type: ignore[type-arg]
    return data


def test_a_synthetic_bench_compares_fast_modes_with_per_sample_exact_decoding(tmp_path: Path) -> None:
    data = bench(
        tmp_path, "--samples", "2", "--audio-seconds", "1", "--gen-length", "4", "--modes", "threshold,prefix-cache"
    )
    assert "CPU" in data["device"] and data["model"] == "diffa-tiny"
    assert data["baseline"] == "exact at batch 1"
    modes = {m["mode"]: m for m in data["modes"]}
    assert list(modes) == ["exact", "threshold", "prefix-cache"]
    assert all(set(m) >= FIELDS and m["samples"] == 2 and m["failures"] == 0 for m in modes.values())
    assert modes["exact"]["speedup_vs_exact"] == 1.0 and modes["exact"]["agreement_with_exact"] == 1.0
    assert modes["prefix-cache"]["full_passes_per_sample"] == 1.0  # one block: one full forward, the rest cached
    assert modes["prefix-cache"]["forward_passes_per_sample"] == modes["exact"]["forward_passes_per_sample"]
    assert modes["exact"]["agreement_with_batch_1"] is None  # the baseline ran at batch 1
    assert modes["threshold"]["agreement_with_batch_1"] == 1.0  # float32 on a CPU: batching is exact
    assert [m["eos_stop"] for m in modes.values()] == [False, True, False]  # prefix-cache keeps exact's rule


def test_every_speed_figure_names_its_stop_rule_and_eos_stop_false_is_fast_dllms(tmp_path: Path) -> None:
    args = ["--samples", "2", "--audio-seconds", "1", "--gen-length", "4", "--modes", "threshold,factor"]
    stopping = {m["mode"]: m["eos_stop"] for m in bench(tmp_path, *args)["modes"]}
    never = {m["mode"]: m["eos_stop"] for m in bench(tmp_path, *args, "-o", "eos_stop=false")["modes"]}
    assert stopping == {"exact": False, "threshold": True, "factor": True}
    assert never == {"exact": False, "threshold": False, "factor": False}


class BatchSensitiveModel:
    """Answers with the sample id, except that odd-numbered samples answer otherwise in a batch."""

    def generate(self, requests: list[GenerationRequest], config: GenerationConfig) -> list[ModelOutput]:
        batched = len(requests) > 1
        return [
            ModelOutput(
                r.sample_id + ("-batched" if batched and int(r.sample_id[-1]) % 2 else ""),
                generated_tokens=1,
                forward_passes=1,
                details={"eos_stop": config.options["decoding"] != "exact"},
            )
            for r in requests
        ]


def test_each_batched_mode_reports_the_share_of_answers_equal_to_its_batch_1_answers() -> None:
    workload = synthetic_workload(samples=4, audio_seconds=0.1)
    results = run_bench(
        BatchSensitiveModel(), workload, ["threshold", "exact"], GenerationConfig(4), batch_size=2, warmup_batches=0
    )
    assert [(r.mode, r.batch_size, r.agreement_with_batch_1) for r in results] == [
        ("exact", 1, None),
        ("threshold", 2, 0.5),  # synthetic-1 and synthetic-3 change when batched
        ("exact", 2, 0.5),
    ]
    assert results[1].agreement_with_exact == 0.5
    assert [r.eos_stop for r in results] == [False, True, False]
    unchecked = run_bench(
        BatchSensitiveModel(), workload, ["threshold"], GenerationConfig(4), batch_size=2, batch_agreement=False
    )
    assert unchecked[1].agreement_with_batch_1 is None


def test_a_task_bench_reports_the_score_change_against_exact(tmp_path: Path) -> None:
    data = bench(tmp_path, "--task", "mmau_test_mini", "--samples", "2", "--gen-length", "4", "--modes", "dual-cache")
    assert data["workload"] == "mmau_test_mini sample" and data["samples"] == 2
    exact, fast = data["modes"]
    assert exact["score"] is not None and fast["score_delta_vs_exact"] == fast["score"] - exact["score"]


def test_the_8b_workload_has_llada_8b_dimensions() -> None:
    """Built on the meta device (shapes only, no memory): the GPU benchmark's backbone is LLaDA-8B-sized."""
    from diffa_eval.bench import build_8b_adapter

    adapter = build_8b_adapter("meta")
    parameters = list(adapter.pipeline.llm.parameters())
    assert 8.0e9 < sum(p.numel() for p in parameters) < 8.1e9
    assert {str(p.dtype) for p in parameters} == {"torch.bfloat16"}


def test_a_scaled_output_head_makes_threshold_commits_happen_with_random_weights(tmp_path: Path) -> None:
    args = ["--samples", "1", "--audio-seconds", "1", "--gen-length", "4", "--modes", "threshold"]
    flat = bench(tmp_path, *args, "--no-batch-agreement")
    sharp = bench(tmp_path, *args, "--no-batch-agreement", "--logit-scale", "64")
    assert (flat["logit_scale"], sharp["logit_scale"]) == (1.0, 64.0)
    passes = {data["logit_scale"]: data["modes"][1]["forward_passes_per_sample"] for data in (flat, sharp)}
    assert passes[1.0] == 4.0 and passes[64.0] < 4.0  # flat random confidences never clear 0.9


def test_the_logit_scale_is_refused_when_not_a_positive_number_or_for_trained_weights() -> None:
    result = runner.invoke(app, ["bench", "--device", "cpu", "--logit-scale", "nan", "--output", "/nonexistent/x.json"])
    assert result.exit_code != 0
    from diffa_eval.bench import scale_output_head
    from diffa_eval.errors import ConfigError
    from diffa_eval.models.diffa.adapter import PRESETS

    class Trained:
        preset = PRESETS["diffa"]

    with pytest.raises(ConfigError, match="random weights"):
        scale_output_head(Trained(), 8.0)


def test_a_task_workload_gives_the_reference_only_to_a_model_that_reads_it() -> None:
    from diffa_eval.bench import task_workload
    from diffa_eval.task import TASKS

    class Reader:
        prompt_variants = ("diffa",)
        reads_reference = True

    task = TASKS.get("mmau_test_mini")
    plain = task_workload(task, "sample", 3, object())
    assert [r.reference for r in plain.requests] == [None, None, None]
    read = task_workload(task, "sample", 3, Reader())
    assert all(r.reference in r.choices for r in read.requests) and read.requests[0].prompt.startswith("You are given")
