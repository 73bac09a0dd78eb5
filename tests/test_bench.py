"""`diffa-eval bench`: exact decoding as the baseline, every fast mode measured against it, JSON and a table."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from diffa_eval.cli import app

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
}


def bench(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    output = tmp_path / "bench.json"
    common = ["bench", "--device", "cpu", "--warmup", "0", "--batch-size", "2", "--output", str(output)]
    result = runner.invoke(app, [*common, *args])
    assert result.exit_code == 0, result.output
    assert "speedup" in result.output
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
