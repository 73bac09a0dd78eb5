"""The GPU measurement of diffa-eval's DIFFA decoding, run by scripts/gpu_check.sh: one process, a fixed
time budget, every step failing softly, results written after every measurement.

Steps, in order of value (each is skipped, and says so, when its estimate no longer fits the budget):
  environment      versions of Python, torch, transformers, CUDA and its driver; the device
  build            LLaDA-8B's shape with random bf16 weights behind DIFFA's audio side (--smoke: diffa-tiny)
  forward_passes   one full forward of the backbone at 204, 300, 456 tokens, batch 1 and 32, against the
                   H200 lower bounds of shared/research/dllm_perf.md §6
  attention        which scaled-dot-product kernel runs: no padding, padding, a cached pass
  tie_order        the batched ranking against topk row by row, on this device, with ties
  sharpening       the output-head scale at which threshold commits happen with random weights
  bench_16         exact at batch 1 against every fast mode at batch 1, 32, 8; answers of 16 tokens
  bench_128        as bench_16, answers of 128 tokens in blocks of 32 (Fast-dLLM's setting)
  compile          exact and cached modes with the layers compiled (torch.compile), against eager
  bench_eos        the modes that stop at EOS by default, with the stop on (the benches run it off)

With --smoke the same steps run on a CPU with tiny models (answers of 4 and 8 tokens, batches 1 and 4,
one compiled case with torch.compile's aot_eager backend) and write the same files; their figures mean
nothing. Random weights make every answer meaningless: agreement with exact decoding is reported, and
says nothing about a trained model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from diffa_eval import bench
from diffa_eval.decoding import parse_mode
from diffa_eval.decoding.commits import reference_topk
from diffa_eval.models.diffa.pipeline import split_prompt
from diffa_eval.types import GenerationConfig

SCHEMA = 1
MODES = ("threshold", "prefix-cache", "dual-cache", "threshold+prefix-cache", "threshold+dual-cache", "factor")
STOPPING_MODES = ("threshold", "threshold+prefix-cache", "threshold+dual-cache", "factor")
"""The modes that stop at EOS by default (DIFFA-2's rule); Fast-dLLM's figures never stop."""
FORWARD_LENGTHS = (204, 300, 456)
FORWARD_BATCHES = (1, 32)
BOUND_MS_BATCH_1 = {204: 3.9, 300: 5.7, 456: 8.8}
"""H200 lower bounds of one full LLaDA-8B forward at batch 1 (dllm_perf.md §6, table A)."""
COMPUTE_MS_BATCH_1 = {204: 3.90, 300: 5.75, 456: 8.79}
WEIGHT_READ_MS = 3.49
"""Table A's columns: compute time of one sequence at 790 TFLOP/s (15.0 GFLOP per token) and the time
to read 15.0 GB of weights at 4.3 TB/s. A batch of B sequences is bounded by max(B x compute, weight
read), as the table derives B=32, L=300: 184 ms."""
GOALS = {"speedup_at_batch_1": {16: 10.0, 128: 8.0}, "forward_ratio": {1: 3.0, 32: 1.5}}
RANDOM_WEIGHTS_NOTE = (
    "Random weights: every answer is meaningless, so agreement with exact decoding (and between batch "
    "sizes) says nothing about a trained model; only speeds and pass counts mean something."
)


class TimeUp(BaseException):
    """SIGTERM (the shell's time limit): the step in progress is recorded as stopped and the files written."""


def lower_bound_ms(batch: int, length: int) -> float:
    return BOUND_MS_BATCH_1[length] if batch == 1 else max(batch * COMPUTE_MS_BATCH_1[length], WEIGHT_READ_MS)


@dataclass(frozen=True)
class Plan:
    """Sizes and budgets of one run (the H200's, or the CPU smoke's)."""

    smoke: bool
    device: str
    gen_lengths: tuple[int, ...]
    eos_gen_lengths: tuple[int, ...]
    block_lengths: dict[int, int]
    batches: tuple[int, ...]
    timed_samples: dict[int, int]
    warmup_batches: dict[int, int]
    audio_seconds: float
    forward_warmup: int
    forward_repeats: int
    forward_vocab: int | None
    scales: tuple[float, ...]
    target_tokens_per_pass: float
    compile_backend: str
    compile_cases: tuple[tuple[str, int], ...]
    step_estimates: dict[str, float] = field(default_factory=dict)

    @classmethod
    def for_run(cls, smoke: bool) -> Plan:
        if smoke:
            return cls(
                smoke=True,
                device="cpu",
                gen_lengths=(4, 8),
                eos_gen_lengths=(4,),
                block_lengths={4: 4, 8: 4},
                batches=(1, 4),
                timed_samples={1: 1, 4: 4},
                warmup_batches={1: 0, 4: 0},
                audio_seconds=1.0,
                forward_warmup=0,
                forward_repeats=1,
                forward_vocab=1024,
                scales=(1.0, 16.0, 64.0),
                target_tokens_per_pass=2.0,
                compile_backend="aot_eager",
                compile_cases=(("threshold+dual-cache", 4),),
                step_estimates={
                    "environment": 1, "build": 3, "forward_passes": 3, "attention": 2, "tie_order": 1,
                    "sharpening": 3, "bench_16": 15, "bench_128": 20, "compile": 10, "bench_eos": 15,
                },
            )  # fmt: skip
        return cls(
            smoke=False,
            device="cuda",
            gen_lengths=(16, 128),
            eos_gen_lengths=(16, 128),
            block_lengths={16: 16, 128: 32},
            batches=(1, 32, 8),
            timed_samples={1: 3, 8: 8, 32: 32},
            warmup_batches={1: 1, 8: 1, 32: 0},  # batch 32 runs after the forward step and batch 8 warmed its kernels
            audio_seconds=10.0,
            forward_warmup=2,
            forward_repeats=5,
            forward_vocab=None,
            scales=(1.0, 4.0, 8.0, 16.0, 32.0, 64.0),
            target_tokens_per_pass=2.0,
            compile_backend="inductor",
            compile_cases=(("exact", 1), ("dual-cache", 1), ("threshold+dual-cache", 32)),
            step_estimates={
                "environment": 15, "build": 20, "forward_passes": 15, "attention": 5, "tie_order": 2,
                "sharpening": 8, "bench_16": 60, "bench_128": 200, "compile": 120, "bench_eos": 120,
            },
        )  # fmt: skip


class Run:
    """The document being written, the budget, and the objects steps share."""

    def __init__(self, plan: Plan, output: Path, budget: float, document: dict[str, Any]) -> None:
        self.plan = plan
        self.output = output
        self.budget = budget
        self.started = time.monotonic()
        self.carried = float(document.get("elapsed_seconds", 0.0))  # spent before a restart
        self.document = document
        self.adapter: Any = None
        self.forward_model: Any = None
        self.prefix_tokens = 0
        self.cost: tuple[float, float] | None = None

    @property
    def left(self) -> float:
        return self.budget - (time.monotonic() - self.started)

    def save(self) -> None:
        self.document["elapsed_seconds"] = round(self.carried + time.monotonic() - self.started, 2)
        if self.plan.device.startswith("cuda") and torch.cuda.is_available():
            peak = int(torch.cuda.max_memory_allocated())
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        self.document["peak_memory_bytes"] = max(peak, int(self.document.get("peak_memory_bytes", 0)))
        texts = {"gpu_check.json": json.dumps(self.document, indent=2) + "\n", "gpu_check.md": summary(self.document)}
        for name, text in texts.items():
            partial = self.output / f".{name}.partial"
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, self.output / name)


def failure(error: BaseException) -> str:
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return "".join(lines[-3:]).strip()[-1500:]


def run_step(run: Run, name: str, action: Callable[[Run], dict[str, Any] | None], needs_state: bool = False) -> None:
    """Run one step unless it is done (a resumed run), or died with the process, or no longer fits."""
    steps = run.document.setdefault("steps", {})
    previous = steps.get(name, {})
    if previous.get("status") in ("ok", "error", "skipped") and not needs_state:
        return
    if previous.get("status") == "running":
        previous.update(status="error", error="the process died during this step")
        run.save()
        if not needs_state:
            return
    estimate = run.plan.step_estimates.get(name, 10.0)
    record: dict[str, Any] = {"status": "running", "estimate_seconds": estimate}
    if run.left < min(estimate, 30.0) and not needs_state:
        record.update(status="skipped", reason=f"budget: {run.left:.0f} s left, estimate {estimate:.0f} s")
        steps[name] = record
        run.save()
        return
    steps[name] = record
    run.save()
    started = time.monotonic()
    try:
        result = action(run)
        record["status"] = "ok"
        if result:
            record.update(result)
    except Exception as error:  # every step fails softly: the next one still runs
        record.update(status="error", error=failure(error))
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    record["seconds"] = round(time.monotonic() - started, 2)
    run.save()


# --- steps -------------------------------------------------------------------------------------------------


def _version(module: str) -> str | None:
    try:
        return str(__import__(module).__version__)
    except Exception:  # a missing package is a fact to record
        return None


def step_environment(run: Run) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "interpreter": sys.executable,
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "numpy": _version("numpy"),
        "cuda_runtime": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device": bench.device_name(run.plan.device),
        "setup": os.environ.get("GPU_CHECK_SETUP", "not recorded"),
    }
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        facts.update(gpu=properties.name, gpu_memory_bytes=int(properties.total_memory))
        facts["multiprocessors"] = int(properties.multi_processor_count)
        facts["cudnn"] = torch.backends.cudnn.version()
        try:
            query = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            facts["cuda_driver"] = subprocess.run(query, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError) as error:
            facts["cuda_driver"] = f"unknown ({error})"
    else:
        facts["cuda_driver"] = None
    run.document["environment"] = facts
    return {}


def step_build(run: Run) -> dict[str, Any]:
    if run.plan.smoke:
        from diffa_eval.models import load_model
        from diffa_eval.models.diffa.llada import LLaDAConfig, LLaDAForMaskedDiffusion
        from diffa_eval.models.diffa.tiny import tiny_llada_config
        from diffa_eval.types import ModelSpec

        run.adapter = load_model(ModelSpec.parse("diffa-tiny"), "cpu")
        config = LLaDAConfig.from_llada_config({**tiny_llada_config(), "embedding_size": run.plan.forward_vocab})
        run.forward_model = LLaDAForMaskedDiffusion(config).eval()
        model = "diffa-tiny (random weights); forward passes: its backbone with a 1024-token vocabulary"
    else:
        run.adapter = bench.build_8b_adapter(run.plan.device)
        run.forward_model = run.adapter.pipeline.llm
        model = "LLaDA-8B shape, random bf16 weights, behind DIFFA's audio side at toy sizes"
    pipeline = run.adapter.pipeline
    before, after = split_prompt(pipeline.tokenizer, bench.SYNTHETIC_QUESTION, pipeline.system_prompt)
    clip = bench.synthetic_workload(1, run.plan.audio_seconds).requests[0].audio
    features, frames = pipeline.features([clip])
    with torch.no_grad():
        dtype = next(pipeline.audio.parameters()).dtype
        audio_tokens = len(pipeline.audio.embed(features.to(pipeline.device, dtype), frames, pipeline.stage)[0])
    run.prefix_tokens = len(before) + len(after) + audio_tokens
    parameters = sum(p.numel() for p in pipeline.llm.parameters())
    run.document["model"] = {
        "description": model,
        "backbone_parameters": parameters,
        "dtype": str(pipeline.llm.get_input_embeddings().weight.dtype).removeprefix("torch."),
        "audio_seconds": run.plan.audio_seconds,
        "audio_tokens": audio_tokens,
        "prompt_tokens": len(before) + len(after),
        "context_tokens": run.prefix_tokens,
        "tokenizer": "byte-level with LLaDA's special tokens (the prompt is longer than LLaDA's tokenizer makes it)",
    }
    return {"state": "rebuilt on every resume"}


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def step_forward_passes(run: Run) -> dict[str, Any]:
    model = run.forward_model
    vocab = model.config.vocab_size
    device = next(model.parameters()).device
    rows: list[dict[str, Any]] = []
    run.document["forward_passes"] = rows
    points = []
    for batch in FORWARD_BATCHES:
        for length in FORWARD_LENGTHS:
            ids = torch.randint(0, min(vocab, 126_000), (batch, length), device=device)
            times = []
            with torch.no_grad():
                for repeat in range(run.plan.forward_warmup + run.plan.forward_repeats):
                    _synchronize()
                    started = time.perf_counter()
                    model(ids)  # every position's logits: the bound counts the output head on all of them
                    _synchronize()
                    if repeat >= run.plan.forward_warmup:
                        times.append(time.perf_counter() - started)
            milliseconds = 1000 * sorted(times)[len(times) // 2]
            bound = lower_bound_ms(batch, length)
            rows.append(
                {
                    "batch": batch,
                    "length": length,
                    "ms": round(milliseconds, 3),
                    "lower_bound_ms": round(bound, 2),
                    "ratio_to_bound": round(milliseconds / bound, 3),
                    "goal_ratio": GOALS["forward_ratio"][batch],
                    "tokens_per_second": round(batch * length / milliseconds * 1000, 1),
                }
            )
            points.append((batch * length, milliseconds / 1000))
            run.save()
    run.cost = _fit(points)
    return {"cost_model": {"seconds_at_0_tokens": run.cost[0], "seconds_per_token": run.cost[1]}}


def _fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least squares seconds = a + b * tokens, for estimating what later measurements cost."""
    n = len(points)
    mean_x, mean_y = sum(p[0] for p in points) / n, sum(p[1] for p in points) / n
    spread = sum((p[0] - mean_x) ** 2 for p in points)
    slope = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / spread if spread else 0.0
    return max(mean_y - slope * mean_x, 0.0), max(slope, 0.0)


def _profile_kernels(action: Callable[[], Any]) -> list[str]:
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with torch.no_grad(), profile(activities=activities) as trace:
        action()
        _synchronize()
    words = ("scaled_dot_product", "flash", "fmha", "cudnn", "attention", "efficient")
    return sorted({e.name for e in trace.events() if any(w in e.name.lower() for w in words)})[:12]


def step_attention(run: Run) -> dict[str, Any]:
    model = run.forward_model
    device = next(model.parameters()).device
    ids = torch.randint(0, 1000, (4, 300), device=device)
    mask = torch.ones_like(ids)
    mask[1:, :40] = 0  # left padding, as in a batch of clips of different lengths
    positions = (mask.cumsum(1) - 1).clamp(min=0)

    def cached() -> Any:
        full = model(ids, return_key_values=True, logits_to_keep=1)
        kept = full.key_values.without(268, 300)
        new_positions = torch.arange(268, 300, device=device).expand(4, -1)
        return model(ids[:, 268:], position_ids=new_positions, past_key_values=kept)

    def padded() -> Any:
        return model(ids, attention_mask=mask, position_ids=positions, logits_to_keep=1)

    cases = {
        "batch 1, no padding": lambda: model(ids[:1], logits_to_keep=1),
        "batch 4, left padding (mask)": padded,
        "cached pass (32 new positions)": cached,
    }
    kernels = {name: _profile_kernels(action) for name, action in cases.items()}
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    run.document["attention"] = {"dtype": dtype, "kernels": kernels}
    return {}


def step_tie_order(run: Run) -> dict[str, Any]:
    """reference_topk ranks rows of equal length in one topk; check on this device that this picks what
    topk picks row by row (the references' way), with many exact ties."""
    device = torch.device(run.plan.device)
    generator = torch.Generator().manual_seed(0)
    levels = torch.tensor([0.25, 0.5, 1.0, -math.inf], dtype=torch.float64)
    mismatches, cases = 0, 0
    for trial in range(200):
        batch, width = 1 + trial % 8, 4 + trial % 29
        confidence = levels[torch.randint(0, 4, (batch, width), generator=generator)]
        confidence[:, 0] = 1.0
        finite = (confidence > -math.inf).sum(dim=1).tolist()
        k = [1 + (trial + row) % count for row, count in enumerate(finite)]
        lengths, offsets = [300 + width] * batch, [300] * batch
        on_device = confidence.to(device)
        batched = reference_topk(on_device, k, lengths, offsets).cpu()
        for row in range(batch):
            line = torch.full((lengths[row],), -math.inf, dtype=torch.float64, device=device)
            line[300:] = on_device[row]
            expected = torch.zeros(width, dtype=torch.bool)
            expected[(torch.topk(line, k[row]).indices - 300).cpu()] = True
            cases += 1
            mismatches += int(not torch.equal(batched[row], expected))
    run.document["tie_order"] = {"rows": cases, "mismatches": mismatches, "batched_equals_per_row": mismatches == 0}
    return {}


def _config(gen_length: int, block_length: int, mode: str, eos_stop: bool | None) -> GenerationConfig:
    options: dict[str, Any] = {"decoding": mode, "block_length": block_length, "steps": gen_length}
    if eos_stop is not None:
        options["eos_stop"] = eos_stop
    return GenerationConfig(gen_length, options=options)


def step_sharpening(run: Run) -> dict[str, Any]:
    gen_length = run.plan.gen_lengths[0]
    workload = bench.synthetic_workload(2, run.plan.audio_seconds)
    config = _config(gen_length, run.plan.block_lengths[gen_length], "threshold", False)
    tried = []
    chosen = run.plan.scales[-1]
    for scale in run.plan.scales:
        bench.scale_output_head(run.adapter, scale)
        result = bench.measure_mode(run.adapter, workload, "threshold", config, 1, 0, run.plan.device)
        tokens_per_pass = gen_length / result.forward_passes_per_sample
        tried.append({"logit_scale": scale, "tokens_per_pass": round(tokens_per_pass, 3)})
        if tokens_per_pass >= run.plan.target_tokens_per_pass:
            chosen = scale
            break
    bench.scale_output_head(run.adapter, chosen)
    run.document["sharpening"] = {
        "method": "output head multiplied by logit_scale (bench.scale_output_head, diffa-eval bench --logit-scale)",
        "logit_scale": chosen,
        "rule": f"the smallest scale tried at which threshold (0.9, eos_stop off) commits >= "
        f"{run.plan.target_tokens_per_pass} tokens per pass at gen {gen_length}, batch 1",
        "tried": tried,
        "note": RANDOM_WEIGHTS_NOTE,
    }
    return {}


def _logit_scale(run: Run) -> float:
    scale = float(run.document.get("sharpening", {}).get("logit_scale", 1.0))
    bench.scale_output_head(run.adapter, scale)
    return scale


def _estimate(run: Run, mode: str, gen_length: int, batch: int, samples: int) -> float:
    """Seconds a measurement should take, from the forward-pass step's cost model."""
    if run.cost is None and run.document.get("forward_passes"):
        run.cost = _fit([(r["batch"] * r["length"], r["ms"] / 1000) for r in run.document["forward_passes"]])
    a, b = run.cost or ((0.05, 2e-5) if run.plan.smoke else (0.01, 2e-5))
    rule, cache = parse_mode(mode)
    block = run.plan.block_lengths[gen_length]
    blocks = gen_length // block
    tokens_per_pass = 1.0 if rule == "exact" else max(run.plan.target_tokens_per_pass, 1.0)
    per_block = math.ceil(block / tokens_per_pass)
    span = block if cache == "dual" else (gen_length + block) / 2
    length = run.prefix_tokens + gen_length
    if cache == "none":
        per_batch = blocks * per_block * (a + b * batch * length)
    else:
        per_batch = blocks * ((a + b * batch * length) + (per_block - 1) * (a + b * batch * span))
    batches = math.ceil(samples / batch) + run.plan.warmup_batches.get(batch, 0)
    encode = (0.1 if run.plan.smoke else 0.01) * samples
    return batches * per_batch + encode


def _measure(
    run: Run,
    entries: list[dict[str, Any]],
    gen_length: int,
    mode: str,
    batch: int,
    eos_stop: bool | None,
    baseline: dict[str, Any] | None,
    compiled: str | None = None,
) -> dict[str, Any]:
    samples = run.plan.timed_samples[batch]
    block = run.plan.block_lengths[gen_length]
    key = {"gen_length": gen_length, "block_length": block, "mode": mode, "batch_size": batch, "eos_stop": eos_stop}
    if compiled:
        key["compile"] = compiled
    for entry in entries:
        if all(entry.get(k) == v for k, v in key.items()) and entry.get("compile") == key.get("compile"):
            if entry["status"] == "running":
                entry.update(status="error", error="the process died during this measurement")
                run.save()
            return entry
    estimate = _estimate(run, mode, gen_length, batch, samples)
    if compiled:
        estimate += 10.0 if run.plan.smoke else 90.0  # compiling, in the first (untimed) batch
    entry = {**key, "status": "running", "estimate_seconds": round(estimate, 1)}
    entries.append(entry)
    if run.left < estimate:
        entry.update(status="skipped", reason=f"budget: {run.left:.0f} s left, estimate {estimate:.0f} s")
        run.save()
        return entry
    run.save()
    started = time.monotonic()
    try:
        workload = bench.synthetic_workload(max(samples, 1), run.plan.audio_seconds)
        config = _config(gen_length, block, mode, eos_stop)
        warmup = run.plan.warmup_batches.get(batch, 0)
        if compiled:
            # The untimed first batch compiles every shape the timed run meets (the same requests),
            # batch 1 included, where rows finish at different passes.
            run.adapter.pipeline.llm.compile_layers(compiled, backend=run.plan.compile_backend)
            first = time.monotonic()
            run.adapter.generate(workload.requests[:batch], config)
            _synchronize()
            entry["first_batch_seconds"] = round(time.monotonic() - first, 2)  # compiling included
            warmup = 0
        result = bench.measure_mode(run.adapter, workload, mode, config, batch, warmup, run.plan.device)
        entry.update(
            status="ok",
            samples=result.samples,
            warmup_batches=warmup,
            samples_per_second=round(result.samples_per_second, 4),
            generated_tokens_per_second=round(result.generated_tokens_per_second, 2),
            forward_passes_per_sample=round(result.forward_passes_per_sample, 3),
            full_passes_per_sample=round(result.full_passes_per_sample, 3),
            tokens_per_pass=round(gen_length / result.forward_passes_per_sample, 3),
            latency_mean=round(result.latency_mean, 4),
            latency_p95=round(result.latency_p95, 4),
            peak_memory_bytes=result.peak_memory_bytes,
            failures=result.failures,
            stop_rule_eos=result.eos_stop,
            texts=result.texts,
        )
        if baseline is not None and baseline.get("status") == "ok":
            entry["speedup_vs_exact_batch_1"] = round(result.samples_per_second / baseline["samples_per_second"], 3)
            shared = min(len(baseline["texts"]), len(result.texts))
            same = sum(a == b for a, b in zip(baseline["texts"][:shared], result.texts[:shared], strict=True))
            entry["agreement_with_exact"] = round(same / shared, 3) if shared else None
    except Exception as error:  # one measurement's failure is recorded; the others still run
        entry.update(status="error", error=failure(error))
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    finally:
        if compiled:
            run.adapter.pipeline.llm.compile_layers(None)
    entry["seconds"] = round(time.monotonic() - started, 2)
    run.save()
    return entry


def _bench(run: Run, gen_length: int, eos_on: bool) -> dict[str, Any]:
    scale = _logit_scale(run)
    entries: list[dict[str, Any]] = run.document.setdefault("bench", [])
    baseline = _measure(run, entries, gen_length, "exact", 1, None, None)
    for batch in run.plan.batches:
        for mode in STOPPING_MODES if eos_on else MODES:
            _measure(run, entries, gen_length, mode, batch, eos_on, baseline)
    mine = [e for e in entries if e["gen_length"] == gen_length and e.get("compile") is None]
    return {"logit_scale": scale, "measurements": len(mine), "errors": sum(e["status"] == "error" for e in mine)}


def step_compile(run: Run) -> dict[str, Any]:
    _logit_scale(run)
    gen_length = run.plan.gen_lengths[0]
    entries: list[dict[str, Any]] = run.document.setdefault("bench", [])
    baseline = _measure(run, entries, gen_length, "exact", 1, None, None)
    for mode, batch in run.plan.compile_cases:
        eos = None if mode == "exact" else False
        eager = _measure(run, entries, gen_length, mode, batch, eos, baseline)
        compiled = _measure(run, entries, gen_length, mode, batch, eos, baseline, compiled="default")
        if eager.get("status") == "ok" and compiled.get("status") == "ok":
            compiled["speedup_vs_eager"] = round(compiled["samples_per_second"] / eager["samples_per_second"], 3)
            same = sum(a == b for a, b in zip(eager["texts"], compiled["texts"], strict=True))
            compiled["agreement_with_eager"] = round(same / len(eager["texts"]), 3)
    run.save()
    return {"backend": run.plan.compile_backend, "mode": "default", "dynamic_shapes": True}


STEPS: tuple[tuple[str, Callable[[Run], dict[str, Any] | None], bool], ...] = (
    ("environment", step_environment, False),
    ("build", step_build, True),
    ("forward_passes", step_forward_passes, False),
    ("attention", step_attention, False),
    ("tie_order", step_tie_order, False),
    ("sharpening", step_sharpening, False),
    ("bench_16", lambda run: _bench(run, run.plan.gen_lengths[0], False), False),
    ("bench_128", lambda run: _bench(run, run.plan.gen_lengths[1], False), False),
    ("compile", step_compile, False),
    ("bench_eos", lambda run: {str(g): _bench(run, g, True) for g in run.plan.eos_gen_lengths}, False),
)


# --- summary -----------------------------------------------------------------------------------------------


def _goal_table(document: dict[str, Any]) -> dict[str, Any]:
    """Each fast mode's samples/s over exact at batch 1, per answer length, against the goals."""
    goals: dict[str, Any] = {}
    for entry in document.get("bench", []):
        if entry.get("status") != "ok" or entry["batch_size"] != 1 or entry["mode"] == "exact" or entry.get("compile"):
            continue
        if "speedup_vs_exact_batch_1" not in entry:
            continue
        label = f"gen {entry['gen_length']}"
        goal = GOALS["speedup_at_batch_1"].get(entry["gen_length"])
        name = f"{entry['mode']} (eos_stop {'on' if entry['eos_stop'] else 'off'})"
        goals.setdefault(label, {})[name] = {"speedup": entry["speedup_vs_exact_batch_1"], "goal": goal}
    return goals


def summary(document: dict[str, Any]) -> str:
    smoke = document.get("smoke")
    env = document.get("environment", {})
    lines = [
        f"# GPU check{' (CPU smoke: tiny models, figures meaningless)' if smoke else ''}",
        "",
        f"Device: {env.get('device', '?')}; torch {env.get('torch', '?')}, "
        f"transformers {env.get('transformers', '?')}, CUDA runtime {env.get('cuda_runtime')}, "
        f"driver {env.get('cuda_driver')}, Python {env.get('python', '?')}.",
        f"Elapsed {document.get('elapsed_seconds', 0):.0f} s of a {document.get('budget_seconds', 0):.0f} s "
        f"budget; peak memory {document.get('peak_memory_bytes', 0) / 2**30:.2f} GiB; "
        f"complete: {document.get('complete', False)}.",
        "",
        f"**{RANDOM_WEIGHTS_NOTE}**",
        "",
        "## Steps",
        "",
        "| step | status | seconds | estimate | note |",
        "|---|---|---:|---:|---|",
    ]
    for name, step in document.get("steps", {}).items():
        note = step.get("error") or step.get("reason") or ""
        note = note.replace("\n", " ").replace("|", "/")[:160]
        cells = [name, step.get("status"), step.get("seconds", ""), step.get("estimate_seconds", ""), note]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    model = document.get("model")
    if model:
        lines += ["", f"Model: {model['description']}, {model['backbone_parameters'] / 1e9:.2f} B backbone parameters "
                  f"({model['dtype']}); {model['audio_seconds']:g} s clips = {model['audio_tokens']} audio tokens; "
                  f"context {model['context_tokens']} tokens before the answer."]  # fmt: skip
    forward = document.get("forward_passes") or []
    if forward:
        lines += ["", "## One full forward pass against the H200 lower bound", ""]
        lines += ["| batch | length | ms | lower bound ms | ratio | goal |", "|---:|---:|---:|---:|---:|---:|"]
        for row in forward:
            met = "met" if row["ratio_to_bound"] <= row["goal_ratio"] else "not met"
            lines.append(
                f"| {row['batch']} | {row['length']} | {row['ms']:.2f} | {row['lower_bound_ms']:.1f} | "
                f"{row['ratio_to_bound']:.2f}x | <= {row['goal_ratio']}x ({met}) |"
            )
    attention = document.get("attention")
    if attention:
        lines += ["", f"## Attention kernels ({attention['dtype']})", ""]
        lines += [f"- {case}: {', '.join(names) or 'none seen'}" for case, names in attention["kernels"].items()]
    ties = document.get("tie_order")
    if ties:
        same = ties["batched_equals_per_row"]
        lines += ["", f"Tie order: the batched ranking equals topk row by row on {ties['rows']} rows: {same}."]
    sharpening = document.get("sharpening")
    if sharpening:
        tried = ", ".join(f"{t['logit_scale']:g}: {t['tokens_per_pass']}" for t in sharpening["tried"])
        lines += ["", f"Sharpening: logit_scale {sharpening['logit_scale']:g} ({sharpening['method']}); "
                  f"tokens per pass tried: {tried}."]  # fmt: skip
    entries = [e for e in document.get("bench", []) if e.get("status") == "ok"]
    if document.get("bench"):
        columns = "gen | mode | eos_stop | compile | batch | samples/s | speedup vs exact@1 | passes (full) | "
        lines += ["", "## Decoding speed", "", f"| {columns}tokens/pass | agree w/ exact |"]
        lines += ["|---:|---|---|---|---:|---:|---:|---:|---:|---:|"]
        for e in document["bench"]:
            if e.get("status") != "ok":
                lines.append(f"| {e['gen_length']} | {e['mode']} | {e['eos_stop']} | {e.get('compile', '')} | "
                             f"{e['batch_size']} | {e['status']} | | | | |")  # fmt: skip
                continue
            lines.append(
                f"| {e['gen_length']} | {e['mode']} | {e['eos_stop']} | {e.get('compile', '')} | {e['batch_size']} | "
                f"{e['samples_per_second']:.3f} | {e.get('speedup_vs_exact_batch_1', 1.0):.2f}x | "
                f"{e['forward_passes_per_sample']:.1f} ({e['full_passes_per_sample']:.1f}) | "
                f"{e['tokens_per_pass']:.2f} | {e.get('agreement_with_exact', '')} |"
            )
    goals = document.get("goals") or {}
    if goals and entries:
        lines += ["", "## Goals at batch 1 (samples/s over exact)", ""]
        for label, modes in goals.items():
            parts = [f"{m} {v['speedup']:.2f}x" for m, v in modes.items()]
            goal = next(iter(modes.values()))["goal"]
            lines.append(f"- {label} ({f'goal {goal}x' if goal else 'no goal'}): " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--budget", type=float, default=None, help="Seconds for all steps (default 430; smoke 45).")
    parser.add_argument("--resume", action="store_true", help="Continue the run in --output after a crash.")
    args = parser.parse_args(argv)
    plan = Plan.for_run(args.smoke)
    budget = args.budget or (45.0 if args.smoke else 430.0)
    args.output.mkdir(parents=True, exist_ok=True)
    existing = args.output / "gpu_check.json"
    document: dict[str, Any] = {}
    if args.resume and existing.exists():
        document = json.loads(existing.read_text(encoding="utf-8"))
        document["restarts"] = int(document.get("restarts", 0)) + 1
    document.update(schema=SCHEMA, smoke=plan.smoke, budget_seconds=budget, complete=False)
    document.setdefault("started", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    document["plan"] = {
        "gen_lengths": list(plan.gen_lengths),
        "block_lengths": {str(k): v for k, v in plan.block_lengths.items()},
        "batches": sorted(plan.batches),
        "modes": ["exact", *MODES],
        "eos_stop": "off for every fast mode; on too for " + ", ".join(STOPPING_MODES) + " (their default), "
        f"at answer lengths {', '.join(map(str, plan.eos_gen_lengths))}",
        "timed_samples": {str(k): v for k, v in plan.timed_samples.items()},
        "warmup_batches": {str(k): v for k, v in plan.warmup_batches.items()},
        "audio_seconds": plan.audio_seconds,
        "forward": {"lengths": list(FORWARD_LENGTHS), "batches": list(FORWARD_BATCHES)},
        "forward_repeats": {"warmup": plan.forward_warmup, "timed (median)": plan.forward_repeats},
        "lower_bounds": "H200: 790 TFLOP/s bf16, 4.3 TB/s; batch 1 as dllm_perf.md §6 states it, "
        "batch B: max(B x compute ms at batch 1, 3.49 ms weight read)",
        "compile": {"backend": plan.compile_backend, "mode": "default", "cases": [list(c) for c in plan.compile_cases]},
        "step_estimates_seconds": plan.step_estimates,
    }
    if plan.smoke:
        torch.set_num_threads(min(torch.get_num_threads(), 2))
    run = Run(plan, args.output, budget, document)

    def time_up(signum: int, frame: Any) -> None:
        raise TimeUp

    signal.signal(signal.SIGTERM, time_up)
    try:
        for name, action, needs_state in STEPS:
            run_step(run, name, action, needs_state)
    except TimeUp:
        for record in [*document.get("steps", {}).values(), *document.get("bench", [])]:
            if record.get("status") == "running":
                record.update(status="error", error="stopped by the time limit")
        document["goals"] = _goal_table(document)
        run.save()
        return 124
    document["goals"] = _goal_table(document)
    document["complete"] = True
    document["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    run.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
