"""The `bench` command: decoding speed of a DIFFA model, exact decoding against the fast modes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .app import app
from .app import check_output_file as _check_output_file
from .app import console as _console
from .app import escape as _escape
from .app import parse_options as _parse_options
from .app import setup_logging as _setup_logging
from .app import single_task as _single_task
from .app import split_list as _split_list

DEFAULT_BENCH_MODES = "threshold,prefix-cache,dual-cache,threshold+prefix-cache,threshold+dual-cache"


@app.command()
def bench(
    model: Annotated[str, typer.Option("--model", "-m", help="A DIFFA model: NAME[@CHECKPOINT].")] = "diffa-tiny",
    model_size: Annotated[
        str,
        typer.Option(help="tiny: the model as named; 8b: LLaDA-8B's shape with random bf16 weights (no download)."),
    ] = "tiny",
    task: Annotated[str | None, typer.Option("--task", "-t", help="Benchmark this task (default: synthetic).")] = None,
    split: Annotated[str, typer.Option(help="The task's split ('sample' = bundled offline sample).")] = "sample",
    samples: Annotated[int, typer.Option(min=1, help="Samples (synthetic workload; at most this many of a task).")] = 8,
    audio_seconds: Annotated[float, typer.Option(min=0.1, help="Clip length of the synthetic workload.")] = 10.0,
    gen_length: Annotated[int | None, typer.Option(min=1, help="Answer length (default: 16, or the task's).")] = None,
    modes: Annotated[str, typer.Option(help="Comma-separated decoding modes to compare with exact.")] = (
        DEFAULT_BENCH_MODES
    ),
    batch_size: Annotated[int, typer.Option(min=1, help="Samples per batch for the fast modes.")] = 8,
    logit_scale: Annotated[
        float,
        typer.Option(
            help="Random weights only: scale the output head so that confidences are sharp enough "
            "for threshold commits (answers stay meaningless)."
        ),
    ] = 1.0,
    baseline_batch_size: Annotated[int, typer.Option(min=1, help="Batch size of the exact baseline.")] = 1,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed batches before each mode.")] = 1,
    batch_agreement: Annotated[
        bool, typer.Option(help="Also decode each batched mode one sample at a time (untimed) and compare answers.")
    ] = True,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="Generation option KEY=VALUE for every mode, e.g. -o threshold=0.9."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")] = "auto",
    name: Annotated[str | None, typer.Option(help="Report name: results/bench/NAME.json.")] = None,
    output: Annotated[Path | None, typer.Option(help="Write the JSON report here instead.")] = None,
) -> None:
    """Decoding speed of a DIFFA model: exact decoding (batch 1) against fast modes, on a task or synthetic audio."""
    import torch
    from rich.table import Table

    from .. import bench as bench_lib
    from ..errors import ConfigError
    from ..files import atomic_write_text, writing
    from ..models import load_model
    from ..types import GenerationConfig, ModelSpec

    _setup_logging(False)
    if model_size not in bench_lib.MODEL_SIZES:
        raise ConfigError(f"--model-size must be one of {', '.join(bench_lib.MODEL_SIZES)}")
    resolved = device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    model_label = "llada-8b-shape (random weights)" if model_size == "8b" else model
    slug = "-".join([model_label.split(" ")[0], "gpu" if resolved.startswith("cuda") else "cpu"])
    path = output or Path("results/bench") / f"{name or slug}.json"
    _check_output_file(path, "--output")
    extra_options = GenerationConfig(options=_parse_options(option or [])).options  # bad values fail here
    if not 0 < logit_scale < float("inf"):
        raise ConfigError(f"--logit-scale must be a positive number, got {logit_scale}")
    if model_size == "8b":
        adapter = bench_lib.build_8b_adapter(resolved)
    else:
        adapter = load_model(ModelSpec.parse(model), resolved)
    if logit_scale != 1.0:
        bench_lib.scale_output_head(adapter, logit_scale)
    config = GenerationConfig(max_new_tokens=gen_length or 16)
    if task is not None:
        chosen = _single_task(task)
        workload = bench_lib.task_workload(chosen, split, samples, adapter)
        config = chosen.generation_for(chosen.select_prompt(getattr(adapter, "prompt_variants", ())))
        config = config.replace(max_new_tokens=gen_length)
    else:
        workload = bench_lib.synthetic_workload(samples, audio_seconds)
    config = config.replace(options={**config.options, **extra_options})
    mode_list = _split_list(modes)
    results = bench_lib.run_bench(
        adapter,
        workload,
        mode_list,
        config,
        batch_size=batch_size,
        baseline_batch_size=baseline_batch_size,
        warmup_batches=warmup,
        device=resolved,
        batch_agreement=batch_agreement,
    )
    device_label = bench_lib.device_name(resolved)
    facts = {"model": model_label, "device": device_label, "torch": torch.__version__, "logit_scale": logit_scale}
    document = bench_lib.report(results, workload, config, facts)
    with writing(path, resumable=False):
        atomic_write_text(path, json.dumps(document, indent=2) + "\n")

    memory = "peak GPU mem" if resolved.startswith("cuda") else "peak RSS (CPU)"
    table = Table(title=f"{model_label} · {workload.name} · gen {config.max_new_tokens} · {device_label}")
    columns = ("mode @ batch", "EOS stop", "speedup vs exact", "samples/s", "gen tok/s", "passes (full)")
    agreements = ("agree w/ exact", "agree w/ batch 1", "score delta")
    for column in (*columns, "latency mean / p50 / p95", memory, *agreements):
        table.add_column(column, justify="left" if column.startswith("mode") else "right")
    for r in results:
        table.add_row(
            f"{r.mode} @ {r.batch_size}",
            {True: "yes", False: "no", None: "?"}[r.eos_stop],
            f"{r.speedup_vs_exact:.2f}x",
            f"{r.samples_per_second:.2f}",
            f"{r.generated_tokens_per_second:.1f}",
            f"{r.forward_passes_per_sample:.1f} ({r.full_passes_per_sample:.1f})",
            " / ".join(f"{1000 * v:.0f}" for v in (r.latency_mean, r.latency_p50, r.latency_p95)) + " ms",
            f"{r.peak_memory_bytes / 2**20:.0f} MiB",
            f"{100 * (r.agreement_with_exact or 0):.0f}%",
            "-" if r.agreement_with_batch_1 is None else f"{100 * r.agreement_with_batch_1:.0f}%",
            "-" if r.score_delta_vs_exact is None else f"{r.score_delta_vs_exact:+.3f}",
        )
    console = _console()
    if not console.is_terminal:
        console.width = max(console.width, 200)
    console.print(table)
    console.print(f"wrote {_escape(str(path))}", highlight=False)
