"""scripts/gpu_check.sh --smoke: the GPU measurement's every step, run on a CPU with tiny models, writes the
JSON and the Markdown summary the H200 run writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STEPS = [
    "environment",
    "build",
    "forward_passes",
    "attention",
    "tie_order",
    "sharpening",
    "bench_16",
    "bench_128",
    "compile",
    "bench_eos",
]
MEASURED = {
    "samples_per_second",
    "forward_passes_per_sample",
    "full_passes_per_sample",
    "tokens_per_pass",
    "latency_mean",
    "peak_memory_bytes",
    "texts",
}


@pytest.mark.slow
def test_the_smoke_run_writes_every_measurement_of_the_gpu_run(tmp_path: Path) -> None:
    output = tmp_path / "check"
    environment = {**os.environ, "DIFFA_EVAL_PYTHON": sys.executable}
    finished = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--smoke", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=150,
        env=environment,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    document = json.loads((output / "gpu_check.json").read_text())
    assert document["smoke"] is True and document["complete"] is True and document["schema"] == 1
    assert document["elapsed_seconds"] < document["budget_seconds"] + 15
    assert list(document["steps"]) == STEPS
    statuses = {name: step["status"] for name, step in document["steps"].items()}
    assert set(statuses.values()) <= {"ok", "skipped"}, document["steps"]  # a slow machine may skip the last
    assert all(statuses[name] == "ok" for name in STEPS[:7]), statuses

    environment_facts = document["environment"]
    assert {"torch", "transformers", "cuda_runtime", "cuda_driver", "device", "python"} <= set(environment_facts)
    assert document["peak_memory_bytes"] > 0
    forward = document["forward_passes"]
    assert [(row["batch"], row["length"]) for row in forward] == [(b, n) for b in (1, 32) for n in (204, 300, 456)]
    assert [row["lower_bound_ms"] for row in forward[:3]] == [3.9, 5.7, 8.8]
    assert [row["lower_bound_ms"] for row in forward[3:]] == [124.8, 184.0, 281.28]
    assert all(row["ratio_to_bound"] == pytest.approx(row["ms"] / row["lower_bound_ms"], rel=1e-2) for row in forward)
    kernels = document["attention"]["kernels"]
    assert len(kernels) == 3 and all(any("scaled_dot_product" in k for k in names) for names in kernels.values())
    assert document["tie_order"]["batched_equals_per_row"] is True
    sharpening = document["sharpening"]
    assert sharpening["logit_scale"] > 1 and "meaningless" in sharpening["note"]  # flat random confidences

    entries = [e for e in document["bench"] if e["status"] == "ok"]
    baseline = next(e for e in entries if e["mode"] == "exact" and e["batch_size"] == 1 and "compile" not in e)
    assert baseline["forward_passes_per_sample"] == baseline["gen_length"]
    fast = [e for e in entries if e["mode"] != "exact"]
    assert fast and all(set(e) >= MEASURED and "speedup_vs_exact_batch_1" in e for e in fast)
    assert {e["batch_size"] for e in fast} == set(document["plan"]["batches"])
    sharpened = [e for e in fast if e["mode"].startswith("threshold") and e["gen_length"] == baseline["gen_length"]]
    assert any(e["tokens_per_pass"] > 1 for e in sharpened)  # threshold commits happen with random weights
    if statuses["compile"] == "ok":
        compiled = [e for e in entries if e.get("compile") == "default"]
        assert compiled and all("speedup_vs_eager" in e and "first_batch_seconds" in e for e in compiled)
        assert all(e["agreement_with_eager"] == 1.0 for e in compiled)  # aot_eager runs eager's kernels

    summary = (output / "gpu_check.md").read_text()
    for heading in ("## Steps", "## One full forward pass against the H200 lower bound", "## Attention kernels"):
        assert heading in summary
    assert "## Decoding speed" in summary and "meaningless" in summary and "logit_scale" in summary
