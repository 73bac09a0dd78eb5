"""Before any model loads: check the whole plan (`check_plan`), or plan it and stop there (`plan_without_loading`).

Every check that needs no model runs here, for every model on every task, so that an invalid plan fails in
one line and leaves no run directory: model names, backends and model args (`--model-args`, also against what
each model's profile applies), the data folder, splits, forced prompt variants, each model's generation
options (against the options its profile declares), the judge, and every model's weights
(`models.sources.check_sources`, which also decides whether the hub can be used); then the output folder and,
last, the data. `run --dry-run` plans each run from the models' profiles
(`models.profile.UnloadedModel`) and counts what is recorded, writing nothing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, StoreError
from ..models import model_profile, with_backend, with_model_args
from ..models.profile import ModelProfile, UnloadedModel
from ..models.sources import check_sources
from ..task import LoadedData, Task, default_data_dir
from ..types import ModelSpec
from .options import PlannedRun, RunOptions
from .plan import Probe, Provenance, load_split, plan_run, probe_all, recorded_keys
from .variant import run_generation

if TYPE_CHECKING:
    from ..scoring.judge import JudgeSettings

SAMPLE_SPLIT = "sample"
"""The bundled offline split: a plan of nothing else may need the hub for its data."""


@dataclass(frozen=True)
class CheckedPlan:
    """Models and tasks that passed every check, with each model's profile and each task's split and data."""

    models: list[ModelSpec]
    profiles: dict[ModelSpec, ModelProfile | None]
    splits: dict[str, str]
    data: dict[str, LoadedData | str]
    """Each task's samples, or why they cannot be run (that task's runs fail; the others run)."""
    judge: JudgeSettings | None


def check_writable(folder: Path) -> None:
    """Fail early, with a clear message, when run directories cannot be created under `folder`."""
    probe = folder / f".write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"diffa-eval")
        probe.unlink()
    except OSError as error:
        raise StoreError(f"cannot write to output directory {folder}: {error.strerror or error}") from None


def check_plan(options: RunOptions, models: Sequence[ModelSpec], tasks: Sequence[Task], writes: bool) -> CheckedPlan:
    """Check everything that needs no model, then load the data. Nothing is written before the checks pass;
    `writes`: then check that run directories can be created (which creates the output folder)."""
    if not models or not tasks:
        raise ConfigError(f"nothing to run: no {'model' if not models else 'task'} named")
    models = [with_backend(spec, options.backend) for spec in models]  # unknown names fail here
    models = [with_model_args(spec, options.model_args, options.allow_remote_code) for spec in models]
    profiles = {spec: model_profile(spec) for spec in models}
    data_dir = options.data_dir or default_data_dir()
    if data_dir is not None and not data_dir.is_dir():
        origin = "--data-dir" if options.data_dir else "DIFFA_EVAL_DATA_DIR"
        raise ConfigError(f"the data folder {data_dir} ({origin}) does not exist or is not a folder")
    splits = {task.name: options.split or task.default_split for task in tasks}
    for task in tasks:
        task.check_split(splits[task.name])
        task.select_prompt(forced=options.prompt)  # an unknown forced variant fails before any work
    for profile in profiles.values():
        if profile is not None:
            for task in tasks:  # the options a run hands the model: the task's, its prompt variant's, the user's
                variant = task.select_prompt(profile.prompt_variants, options.prompt)
                profile.check(run_generation(task, variant, options.generation, options.seed), f"on {task.name}")
    judge = None
    if any(task.scores_after_generation for task in tasks):
        judge = options.judge_settings()
        judge.with_key_from_env()  # a key that must not go to this judge fails here, not after generation
    described = [(str(spec), profile.sources) for spec, profile in profiles.items() if profile is not None]
    check_sources(described, datasets_may_use_hub=any(split != SAMPLE_SPLIT for split in splits.values()))
    if writes:
        check_writable(options.output_dir)
    data = {task.name: load_split(task, splits[task.name], data_dir, options.limit) for task in tasks}
    return CheckedPlan(models, profiles, splits, data, judge)


def plan_without_loading(
    options: RunOptions, models: Sequence[ModelSpec], tasks: Sequence[Task], provenance: Provenance
) -> list[PlannedRun]:
    """Every (model, task) run as `run` would plan it (samples, how many are recorded already, run directory),
    checked as `run` checks it, with no model loaded and nothing written (`run --dry-run`)."""
    checked = check_plan(options, models, tasks, writes=False)
    probes: dict[str, list[Probe]] = {}
    planned: list[PlannedRun] = []
    for spec in checked.models:
        profile = checked.profiles[spec]
        for task in tasks:
            split, loaded = checked.splits[task.name], checked.data[task.name]
            if isinstance(loaded, str):
                planned.append(PlannedRun(str(spec), task.name, split, note=loaded))
                continue
            if profile is None:
                note = "the model does not describe itself before it loads: its run is planned once it has loaded"
                planned.append(PlannedRun(str(spec), task.name, split, samples=len(loaded.samples), note=note))
                continue
            if task.name not in probes:
                probes[task.name] = probe_all(loaded.samples)
            model = UnloadedModel(profile, options.device)
            plan = plan_run(model, spec, task, split, loaded, probes[task.name], options, provenance, checked.judge)
            planned.append(
                PlannedRun(
                    str(spec),
                    task.name,
                    split,
                    prompt_variant=plan.variant.name,
                    variant=plan.manifest.variant.label if plan.manifest.variant is not None else "",
                    samples=len(plan.samples),
                    dataset=loaded.total if loaded.total is not None else len(plan.samples),
                    recorded=len(recorded_keys(plan)),
                    directory=plan.directory,
                )
            )
    return planned
