"""Planning a run: its data, its identity, and each sample prepared once.

A run is one model on one task split with one prompt variant and generation config. Planning loads
the split, probes every clip, and asks the task, once per sample, for everything the rest of the run
needs: the prompt, the answer options, the reference (only for a model that declares `reads_reference`),
the breakdown labels and what the score depends on. Execution and scoring use that prepared value and
never ask the task again.

A sample's resume key hashes the model spec (with the model args that change outputs), generation config,
task name and version, prompt variant, sample id, the request the model sees (prompt text, answer options,
and the reference for models that read it) and the audio content, so re-running the same command skips
every sample already recorded (whatever the batch size), retries the ones that failed, and produces again
any sample whose model input changed. Each record also keeps a hash of what decides its score (reference,
choices, the benchmark's fields): when only that changed, the stored output is scored again.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import audio
from ..describe import EvalRun, SampleScope, VariantInfo
from ..errors import AudioError, ConfigError, DiffaEvalError
from ..models.base import DescribedModel
from ..models.model_args import output_args
from ..resample import DEFAULT_RESAMPLER, check_resampler
from ..store import MANIFEST, SAMPLES, RunStore, SampleRecord, latest_records, read_records, read_run
from ..task import LoadedData, PromptVariant, Task
from ..types import GenerationConfig, ModelSpec, Sample, stable_hash
from .options import RunOptions, limit_count
from .provenance import now
from .submission import SubmissionPlan
from .variant import asked_variant, run_generation, variant_info

if TYPE_CHECKING:
    from ..scoring.judge import JudgeSettings

Probe = tuple[audio.AudioProbe | None, str | None]
"""A clip's header facts, or why it cannot be read."""


@dataclass(frozen=True)
class PreparedSample:
    """One planned sample with everything the run asked its task for."""

    sample: Sample
    key: str
    probe: audio.AudioProbe | None
    probe_error: str | None
    prompt: str
    choices: tuple[str, ...]
    """The answers the model may give (`Task.answer_options`)."""
    reference: str | None
    """The answer the scorer counts correct (`Task.ideal_answer`), only for a model that reads it; else None."""
    groups: Mapping[str, str]
    """The sample's breakdown labels (`Task.breakdown_labels`)."""
    score_inputs: str


@dataclass(frozen=True)
class RunPlan:
    """One (model, task, split) run: where it lives, its manifest, and its prepared samples in dataset order."""

    task: Task
    variant: PromptVariant
    generation: GenerationConfig
    directory: Path
    manifest: EvalRun
    samples: tuple[PreparedSample, ...]
    resampler: str
    """How audio is brought to the model's sampling rate."""
    judge: JudgeSettings | None = None
    """The judge that scores the task's outputs, for judge-scored tasks."""
    submission: SubmissionPlan | None = field(default=None, repr=False)

    @property
    def keys(self) -> dict[str, str]:
        """Resume key -> sample id, in dataset order (plan.json)."""
        return {prepared.key: prepared.sample.id for prepared in self.samples}

    def write(self, store: RunStore, manifest: EvalRun | None = None) -> None:
        """Store the manifest, plan.json and the submission plan (under the records lock for shards), and take
        over the usable records that runs of the same settings on more or fewer samples (--limit) hold."""
        with store.locked():
            store.write_manifest(manifest or self.manifest)
            store.write_plan(self.keys)
            if self.submission is not None:
                self.submission.write(store.directory)
            self._adopt_sibling_records(store)

    def _adopt_sibling_records(self, store: RunStore) -> None:
        keys = self.keys
        mine = store.records()
        wanted = {key for key in keys if key not in mine or mine[key].needs_output}
        adopted: dict[str, SampleRecord] = {}
        for sibling in sibling_runs(self.directory, self.manifest):
            for key, record in latest_records(read_records(sibling / SAMPLES)).items():
                if key in wanted and key not in adopted and not record.needs_output:
                    adopted[key] = record
        if adopted:
            store.append_all(adopted[key] for key in keys if key in adopted)
            store.sync()


def recorded_keys(plan: RunPlan) -> set[str]:
    """The planned samples a run would not produce again: those with a usable record in the run directory or in
    a run of the same settings whose records it takes over (read as they are, without the run's lock)."""
    wanted = set(plan.keys)
    usable: set[str] = set()
    for directory in (plan.directory, *sibling_runs(plan.directory, plan.manifest)):
        records = latest_records(read_records(directory / SAMPLES))
        usable |= {key for key, record in records.items() if key in wanted and not record.needs_output}
    return usable


def load_split(task: Task, split: str, data_dir: Path | None, limit: float | None) -> LoadedData | str:
    """The split's samples (the first `limit` of them, or that fraction of them), or why they cannot be run."""
    try:
        loaded = task.load(split, data_dir)
    except DiffaEvalError as error:
        return f"{task.name}: {error}"
    except Exception as error:  # e.g. a hub or network failure inside `datasets`
        return f"{task.name}: could not load {split}: {type(error).__name__}: {error}"
    samples = loaded.samples[: limit_count(limit, len(loaded.samples))]
    if not samples:
        return f"{task.name}: {split} has no samples ({loaded.info.id} is empty)"
    duplicates = sorted(sample_id for sample_id, n in Counter(s.id for s in samples).items() if n > 1)
    if duplicates:
        shown = ", ".join(duplicates[:5]) + (" ..." if len(duplicates) > 5 else "")
        return f"{task.name}: {len(duplicates)} duplicate sample ids in {split}: {shown}"
    return LoadedData(samples, loaded.info, total=len(loaded.samples))


def probe_all(samples: Sequence[Sample]) -> list[Probe]:
    """Every clip's header, read in parallel."""
    pool = ThreadPoolExecutor(max_workers=8)
    try:
        return list(pool.map(_probe, samples))
    finally:
        # On Ctrl-C, drop the probes not started yet rather than waiting for every one of them.
        pool.shutdown(wait=False, cancel_futures=True)


def _probe(sample: Sample) -> Probe:
    if sample.audio is None:  # never evaluated text-only: a benchmark item without its audio is broken
        return None, "sample has no audio: its record names no audio file or data"
    try:
        return audio.probe(sample.audio), None
    except AudioError as error:
        return None, str(error)


def adapter_resampler(adapter: DescribedModel) -> str:
    """The resampler the adapter asks for (`resampler`, optional), soxr by default."""
    try:
        return check_resampler(getattr(adapter, "resampler", DEFAULT_RESAMPLER))
    except ValueError as error:
        raise ConfigError(f"model {adapter.name}: {error}") from None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def run_directory(output_dir: Path, spec: ModelSpec, task: Task, split: str, run_id: str) -> Path:
    """Where a run lives: <output>/<model>/<task>-<split>-<run id prefix>."""
    model_dir = _slug(spec.name) + (f"+{_slug(spec.backend)}" if spec.backend else "")
    if spec.checkpoint:
        tail = "_".join(Path(spec.checkpoint).parts[-2:])
        model_dir += f"@{_slug(tail)}-{stable_hash(spec.checkpoint)[:6]}"
    return output_dir / model_dir / f"{task.name}-{split}-{run_id[:8]}"


def resume_key(
    spec: ModelSpec,
    generation: GenerationConfig,
    task: Task,
    prompt_variant: str,
    sample_id: str,
    audio_sha256: str | None,
    audio_window: tuple[float, str] | None = None,
    model_input: Mapping[str, Any] | None = None,
    resampler: str = DEFAULT_RESAMPLER,
) -> str:
    """The content hash under which a sample's result is stored: everything that decides the output.
    `audio_window` is the model's audio limit in seconds and the long-audio policy, when the model has
    a limit; `model_input` is the rest of the request the model sees (the prompt text, the answer options
    and, for a model that reads it, the reference); `resampler` is the resampler that changes the audio the
    model hears (named only when it is not the default, soxr)."""
    parts: list[Any] = [spec_identity(spec), generation.to_dict(), task.name, task.version, prompt_variant, sample_id]
    window = [list(audio_window)] if audio_window else []
    extra = [] if resampler == DEFAULT_RESAMPLER else [resampler]
    return stable_hash([*parts, audio_sha256, *window, dict(model_input or {}), *extra])


def model_identity(model: str, model_args: Mapping[str, Any] | None) -> str:
    """What names a model in run ids and resume keys: its spec, and the model args that change its outputs
    (`--model-args dtype=...`), so that runs of other values never share a directory or a record."""
    return f"{model} {json.dumps(dict(model_args), sort_keys=True)}" if model_args else model


def spec_identity(spec: ModelSpec) -> str:
    """`model_identity` of a spec."""
    return model_identity(str(spec), output_args(dict(spec.model_args)))


def score_inputs(sample: Sample, choices: Sequence[str]) -> str:
    """A hash of what a sample's score depends on besides the output: its reference, choices (as stored and
    as the task offers them) and fields."""
    return stable_hash([sample.reference, list(sample.choices), list(choices), dict(sample.fields)])


def prepare(
    task: Task, variant: PromptVariant, sample: Sample, probe: Probe, reads_reference: bool, key_of: Any
) -> PreparedSample:
    """Ask the task, once, for everything about one sample; `key_of(sample, probe, model_input)` gives its key."""
    prompt = variant.build(sample)
    choices = tuple(task.answer_options(sample))
    # only a model that declares it reads the reference gets it: it is then part of the resume key
    reference = task.ideal_answer(sample) if reads_reference else None
    request: dict[str, Any] = {"prompt": prompt, "choices": list(choices)}
    if reads_reference:
        request["reference"] = reference
    return PreparedSample(
        sample=sample,
        key=key_of(sample, probe[0], request),
        probe=probe[0],
        probe_error=probe[1],
        prompt=prompt,
        choices=choices,
        reference=reference,
        groups=task.breakdown_labels(sample),
        score_inputs=score_inputs(sample, choices),
    )


@dataclass(frozen=True)
class Provenance:
    """What every manifest of this process records about the software."""

    packages: Mapping[str, str]
    git_sha: str | None


def plan_run(
    adapter: DescribedModel,
    spec: ModelSpec,
    task: Task,
    split: str,
    loaded: LoadedData,
    probes: Sequence[Probe],
    options: RunOptions,
    provenance: Provenance,
    judge: JudgeSettings | None = None,
) -> RunPlan:
    """The run of `adapter` on the loaded split under `options`: its identity, manifest and prepared samples.
    `judge` scores the task when it is judge-scored (None: `options`' judge)."""
    variant = task.select_prompt(getattr(adapter, "prompt_variants", ()), options.prompt)
    limit: float | None = getattr(adapter, "max_audio_seconds", None)
    window = (limit, options.long_audio) if limit else None
    resampler = adapter_resampler(adapter)
    generation = run_generation(task, variant, options.generation, options.seed)
    run_id = base_run_id(spec_identity(spec), task.name, task.version, split, variant.name, generation)
    if loaded.total is not None and len(loaded.samples) < loaded.total:
        run_id = stable_hash([run_id, {"limit": len(loaded.samples)}])  # part of a split never replaces the whole
    directory = run_directory(options.output_dir, spec, task, split, run_id)
    reads_reference = bool(getattr(adapter, "reads_reference", False))

    def key_of(sample: Sample, probe: audio.AudioProbe | None, request: Mapping[str, Any]) -> str:
        heard = resampler if probe and probe.sampling_rate != adapter.sampling_rate else DEFAULT_RESAMPLER
        sha256 = probe.sha256 if probe else None
        return resume_key(spec, generation, task, variant.name, sample.id, sha256, window, request, heard)

    samples = tuple(
        prepare(task, variant, sample, probe, reads_reference, key_of)
        for sample, probe in zip(loaded.samples, probes, strict=True)
    )
    if not task.scores_after_generation:
        judge = None
    elif judge is None:
        judge = options.judge_settings()
    earlier = _earlier(directory)
    args = output_args(dict(spec.model_args))
    asked = asked_variant(options.generation, options.prompt, options.seed, args, adapter)
    manifest = EvalRun(
        run_id=run_id,
        model=str(spec),
        model_info={**adapter.info(), "resampler": resampler},
        task=task.name,
        task_version=task.version,
        split=split,
        prompt_variant=variant.name,
        generation=generation,
        dataset=loaded.info,
        seed=options.seed,
        device=adapter.device,
        started_at=earlier.started_at if earlier is not None else now(),
        packages=provenance.packages,
        git_sha=provenance.git_sha,
        command=options.command,
        description=task.describe(),
        variant=_variant(earlier, variant_info(adapter, task, variant, generation, args), asked),
        scope=SampleScope(
            dataset=loaded.total if loaded.total is not None else len(samples),
            planned=len(samples),
            limit=options.limit,
            max_failures=options.max_failures,
        ),
        judge=None if judge is None else judge.identity(),
    )
    form = task.submission_form
    submission = None if form is None else SubmissionPlan(form, {p.key: p.sample.fields for p in samples})
    return RunPlan(task, variant, generation, directory, manifest, samples, resampler, judge, submission)


def base_run_id(model: str, task: str, version: int, split: str, prompt: str, generation: GenerationConfig) -> str:
    """The id of the run of the whole split with these settings; a run of its first N samples (--limit) has an
    id of its own derived from it, and lives in a directory of its own."""
    return stable_hash([model, task, version, split, prompt, generation.to_dict()])


def sibling_runs(directory: Path, manifest: EvalRun) -> list[Path]:
    """Other run directories of the same settings on the same split, i.e. runs of the whole split or of a
    --limit of it, whose records the run may reuse."""
    base = base_run_id(*_identity(manifest))
    siblings = []
    for candidate in sorted(directory.parent.glob(f"{manifest.task}-{manifest.split}-*")):
        if candidate == directory or not (candidate / MANIFEST).is_file():
            continue
        try:
            other = read_run(candidate).manifest
        except DiffaEvalError:
            continue
        if base_run_id(*_identity(other)) == base:
            siblings.append(candidate)
    return siblings


def _identity(manifest: EvalRun) -> tuple[str, str, int, str, str, GenerationConfig]:
    model_args = manifest.variant.settings.get("model_args") if manifest.variant else None
    return (model_identity(manifest.model, model_args), manifest.task, manifest.task_version, manifest.split,
            manifest.prompt_variant, manifest.generation)  # fmt: skip


def _earlier(directory: Path) -> EvalRun | None:
    """The manifest an earlier attempt of the run wrote, if any."""
    try:
        return read_run(directory).manifest
    except DiffaEvalError:
        return None


def _variant(earlier: EvalRun | None, variant: VariantInfo, asked: VariantInfo) -> VariantInfo:
    """The run's variant, asked for as `asked` now and as earlier commands asked for it."""
    for known in earlier.variant.asked if earlier is not None and earlier.variant is not None else ():
        variant = variant.with_asked(known)
    return variant.with_asked(asked)
