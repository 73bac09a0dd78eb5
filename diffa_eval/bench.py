"""Decoding speed: one DIFFA model run under several decoding modes in one process, against exact decoding.

A workload is a task split (audio, prompts and scorer) or synthetic clips of given length with a
fixed question. Per-sample exact decoding (batch 1) is the baseline; every other mode runs at the
bench's batch size after its own warm-up. For each mode the report holds samples/s, generated
tokens/s, forward passes per sample, per-sample latency (mean, p50, p95; a sample's latency is its
batch's), peak memory (the GPU's allocated peak, or the process's peak RSS on a CPU), the stop rule
its pass counts follow (`eos_stop`: DIFFA-2 stops at an EOS, Fast-dLLM never does), and, against
the baseline, the speed ratio, the share of answers identical to exact's and the task-score delta.
A mode run at a batch size above 1 is also decoded one sample at a time (untimed) and reports the
share of its answers identical to those: batching is exact in float32, not always in bfloat16.

Random weights give flat confidences (LLaDA-8B's shape: the top token's probability is about 1e-3),
so a threshold rule would never commit more than one token per pass. `scale_output_head` multiplies
a random model's output head by a `logit_scale` (`diffa-eval bench --logit-scale`), which sharpens
every confidence so that threshold commits happen. The tokens of a random model mean nothing either
way: its agreement with exact decoding says nothing about a trained model's.
"""

from __future__ import annotations

import platform
import resource
import sys
import time
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError
from .models.base import GenerationRequest
from .resample import SINC_HANN
from .task import Task
from .types import GenerationConfig, ModelOutput, Sample, Score

SYNTHETIC_QUESTION = "Which sound is in the clip? Choose one: (A) speech (B) music (C) rain (D) silence."
BASELINE = "exact"
MODEL_SIZES = ("tiny", "8b")
"""`tiny`: the preset as named; `8b`: LLaDA-8B's shape with random weights (bf16), no download."""


@dataclass
class Workload:
    """What to decode: requests in a fixed order, and the task and samples that score them (None: synthetic)."""

    name: str
    requests: list[GenerationRequest]
    task: Task | None = None
    samples: list[Sample] = field(default_factory=list)
    audio_seconds: float = 0.0


@dataclass
class ModeResult:
    """One decoding mode's measurements over the whole workload."""

    mode: str
    batch_size: int
    samples: int
    seconds: float
    samples_per_second: float
    generated_tokens_per_second: float
    forward_passes_per_sample: float
    full_passes_per_sample: float
    latency_mean: float
    latency_p50: float
    latency_p95: float
    peak_memory_bytes: int
    failures: int
    eos_stop: bool | None = None
    """The stop rule the pass counts follow (None: the outputs do not say, or disagree)."""
    score: float | None = None
    speedup_vs_exact: float | None = None
    agreement_with_exact: float | None = None
    score_delta_vs_exact: float | None = None
    agreement_with_batch_1: float | None = None
    """Share of answers identical to the same mode's at batch 1 (None: the mode ran at batch 1)."""
    texts: list[str | None] = field(default_factory=list, repr=False)


def synthetic_workload(samples: int, audio_seconds: float, seed: int = 0) -> Workload:
    """`samples` clips of low noise, each `audio_seconds` long, all asked the same multiple-choice question."""
    if samples < 1 or audio_seconds <= 0:
        raise ConfigError("a synthetic workload needs --samples >= 1 and --audio-seconds > 0")
    rng = np.random.default_rng(seed)
    requests = [
        GenerationRequest(
            sample_id=f"synthetic-{index}",
            prompt=SYNTHETIC_QUESTION,
            audio=(rng.standard_normal(int(16_000 * audio_seconds)) * 0.05).astype(np.float32),
        )
        for index in range(samples)
    ]
    return Workload(f"synthetic {audio_seconds:g}s x {samples}", requests, audio_seconds=audio_seconds)


def task_workload(task: Task, split: str, limit: int | None, adapter: Any = None) -> Workload:
    """The first `limit` samples of a task split that have audio, prepared as a run prepares them for `adapter`
    (its preferred prompt variant; the reference only if it reads it)."""
    from . import audio
    from .run.plan import prepare
    from .task import default_data_dir

    loaded = task.load(split, default_data_dir())
    variant = task.select_prompt(getattr(adapter, "prompt_variants", ()))
    reads_reference = bool(getattr(adapter, "reads_reference", False))
    requests, samples, seconds = [], [], 0.0
    for sample in loaded.samples:
        if sample.audio is None:
            continue
        decoded = audio.decode(sample.audio, 16_000, SINC_HANN)  # as the runner decodes for DIFFA
        clip = decoded.array[: 30 * 16_000]
        seconds += len(clip) / 16_000
        prepared = prepare(task, variant, sample, (None, None), reads_reference, lambda *_: "")
        requests.append(GenerationRequest(sample.id, prepared.prompt, clip, prepared.choices, prepared.reference))
        samples.append(sample)
        if limit and len(requests) == limit:
            break
    if not requests:
        raise ConfigError(f"{task.name} {split} has no samples with audio")
    return Workload(f"{task.name} {split}", requests, task, samples, audio_seconds=seconds / len(requests))


def device_name(device: str) -> str:
    """The accelerator's name, or the CPU's, for labelling absolute numbers."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(torch.device(device))} (GPU)"
    processor = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    processor = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{processor} (CPU, {torch.get_num_threads()} threads)"


def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _reset_peak_memory(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _peak_memory(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated())
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is in bytes on macOS, KiB on Linux
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


def measure_mode(
    adapter: Any,
    workload: Workload,
    mode: str,
    config: GenerationConfig,
    batch_size: int,
    warmup_batches: int,
    device: str,
) -> ModeResult:
    """Decode the whole workload under `mode` (after `warmup_batches` untimed batches) and measure it."""
    mode_config = config.replace(options={**config.options, "decoding": mode})
    batches = [workload.requests[i : i + batch_size] for i in range(0, len(workload.requests), batch_size)]
    for batch in batches[:warmup_batches]:
        adapter.generate(batch, mode_config)
    _synchronize(device)
    _reset_peak_memory(device)
    outputs: list[ModelOutput] = []
    latencies: list[float] = []
    started = time.perf_counter()
    for batch in batches:
        batch_start = time.perf_counter()
        produced = adapter.generate(batch, mode_config)
        _synchronize(device)
        latencies.extend([time.perf_counter() - batch_start] * len(batch))
        outputs.extend(produced)
    seconds = time.perf_counter() - started
    count = len(outputs)
    tokens = sum(o.generated_tokens or 0 for o in outputs)
    passes = [o.forward_passes or 0 for o in outputs]
    full = [int(o.details.get("full_passes", o.forward_passes or 0)) for o in outputs]
    stop_rules = {o.details.get("eos_stop") for o in outputs if o.error is None}
    result = ModeResult(
        mode=mode,
        batch_size=batch_size,
        samples=count,
        seconds=seconds,
        samples_per_second=count / seconds,
        generated_tokens_per_second=tokens / seconds,
        forward_passes_per_sample=sum(passes) / count,
        full_passes_per_sample=sum(full) / count,
        latency_mean=float(np.mean(latencies)),
        latency_p50=_percentile(latencies, 50),
        latency_p95=_percentile(latencies, 95),
        peak_memory_bytes=_peak_memory(device),
        failures=sum(o.error is not None for o in outputs),
        eos_stop=stop_rules.pop() if len(stop_rules) == 1 else None,
        texts=[o.text for o in outputs],
    )
    if workload.task is not None:
        scores = workload.task.score_batch(list(zip(workload.samples, result.texts, strict=True)))
        values = [s.value for s in scores if isinstance(s, Score) and s.value is not None]
        result.score = float(np.mean(values)) if values else None
    return result


def _agreement(texts: Sequence[str | None], reference: Sequence[str | None]) -> float:
    return sum(a == b for a, b in zip(texts, reference, strict=True)) / len(reference)


def compare_to_baseline(results: Sequence[ModeResult]) -> None:
    """Fill each result's ratios against the first one (the baseline)."""
    baseline = results[0]
    for result in results:
        result.speedup_vs_exact = result.samples_per_second / baseline.samples_per_second
        result.agreement_with_exact = _agreement(result.texts, baseline.texts)
        if result.score is not None and baseline.score is not None:
            result.score_delta_vs_exact = result.score - baseline.score


def compare_to_batch_1(
    adapter: Any, workload: Workload, results: Sequence[ModeResult], config: GenerationConfig, device: str
) -> None:
    """Fill each batched result's agreement with the same mode decoded one sample at a time (untimed;
    a mode already measured at batch 1 is not decoded again)."""
    alone = {r.mode: r.texts for r in results if r.batch_size == 1}
    for result in results:
        if result.batch_size == 1:
            continue
        if result.mode not in alone:
            alone[result.mode] = measure_mode(adapter, workload, result.mode, config, 1, 0, device).texts
        result.agreement_with_batch_1 = _agreement(result.texts, alone[result.mode])


def run_bench(
    adapter: Any,
    workload: Workload,
    modes: Sequence[str],
    config: GenerationConfig,
    *,
    batch_size: int,
    baseline_batch_size: int = 1,
    warmup_batches: int = 1,
    device: str = "cpu",
    batch_agreement: bool = True,
) -> list[ModeResult]:
    """Exact decoding at `baseline_batch_size` first, then every mode at `batch_size`; with
    `batch_agreement`, each batched mode's answers are compared with its answers at batch 1."""
    plan = [(BASELINE, baseline_batch_size)] + [(mode, batch_size) for mode in modes]
    results = [measure_mode(adapter, workload, m, config, size, warmup_batches, device) for m, size in plan]
    compare_to_baseline(results)
    if batch_agreement:
        compare_to_batch_1(adapter, workload, results, config, device)
    return results


def report(
    results: Sequence[ModeResult], workload: Workload, config: GenerationConfig, facts: dict[str, Any]
) -> dict[str, Any]:
    """The JSON document of a bench run."""
    return {
        **facts,
        "workload": workload.name,
        "samples": len(workload.requests),
        "mean_audio_seconds": round(workload.audio_seconds, 3),
        "generation": config.to_dict(),
        "baseline": f"{BASELINE} at batch {results[0].batch_size}",
        "modes": [{k: v for k, v in asdict(r).items() if k != "texts"} for r in results],
    }


_UNSCALED_HEADS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def scale_output_head(adapter: Any, logit_scale: float) -> None:
    """Make a random-weights DIFFA's logits `logit_scale` times its initial ones, by scaling the
    backbone's output head (see the module docstring); 1 restores the initial head. Refused for
    trained weights, whose confidences it would distort."""
    import torch

    preset = getattr(adapter, "preset", None)
    if preset is None or not preset.random_weights:
        raise ConfigError("--logit-scale applies only to models with random weights (diffa-tiny, --model-size 8b)")
    if not logit_scale > 0 or logit_scale == float("inf"):
        raise ConfigError(f"--logit-scale must be a positive number, got {logit_scale}")
    head = adapter.pipeline.llm.get_output_embeddings()
    if head not in _UNSCALED_HEADS:
        _UNSCALED_HEADS[head] = head.weight.detach().clone()
    with torch.no_grad():
        head.weight.copy_(_UNSCALED_HEADS[head] * logit_scale)


def build_8b_adapter(device: str, seed: int = 0) -> Any:
    """A DIFFA with LLaDA-8B's backbone shape (random bf16 weights) behind the tiny audio encoder and
    tokenizer: the real decoding cost, no download. The audio yields as many tokens as DIFFA's would."""
    import torch
    from transformers import WhisperFeatureExtractor

    from .models.diffa.adapter import DiffaAdapter, DiffaPreset
    from .models.diffa.llada import LLaDAConfig, LLaDAForMaskedDiffusion
    from .models.diffa.modeling import ACOUSTIC_LAYERS, DiffaArchitecture, DiffaAudioEncoder
    from .models.diffa.pipeline import DiffaPipeline
    from .models.diffa.tiny import tiny_tokenizer, tiny_whisper_config

    target = torch.device(device)
    torch.manual_seed(seed)
    config = LLaDAConfig()  # the defaults are LLaDA-8B's dimensions
    default_dtype = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.bfloat16)
        with torch.device(target):
            llm = LLaDAForMaskedDiffusion(config)
    finally:
        torch.set_default_dtype(default_dtype)
    with torch.device(target):
        architecture = DiffaArchitecture(
            whisper=tiny_whisper_config(),
            llm_hidden_size=config.hidden_size,
            acoustic_layers=ACOUSTIC_LAYERS["openai/whisper-tiny"],
        )
        audio = DiffaAudioEncoder(architecture)
    pipeline = DiffaPipeline(
        audio=audio,
        llm=llm,
        tokenizer=tiny_tokenizer(),
        feature_extractor=WhisperFeatureExtractor(feature_size=80),  # type: ignore[no-untyped-call]
        stage=2,
        device=target,
    )
    preset = DiffaPreset("diffa-8b-random", "", "", 2, ("diffa",), "exact", random_weights=True)
    return DiffaAdapter(preset, pipeline, None, device)
