"""Run models x tasks: load each model once, batch samples by audio length, keep every result.

Each (model, task, split, prompt variant, generation config) is one run directory. A sample's
resume key hashes the model spec, generation config, task name and version, prompt variant,
sample id, the request the model sees (prompt text, answer options, and the reference for models
that read it) and audio content, so re-running the same command skips every sample already
recorded (whatever the batch size), retries the ones that failed, and produces again any sample
whose model input changed. Each record also keeps a hash of what decides its score (reference,
choices, the benchmark's fields): when only that changed, the stored output is scored again.

A sharded run (`RunOptions.shard`, or the ranks of a torchrun group) produces only its shard's
samples into the same run directory; whoever finds every planned sample recorded finishes the run
(under torchrun: rank 0, once all ranks are done).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from . import audio
from .describe import SampleScope, VariantInfo
from .errors import AudioError, ConfigError, DiffaEvalError, StoreError
from .models import load_model, with_backend
from .models.base import GenerationRequest, ModelAdapter, too_short
from .resample import DEFAULT_RESAMPLER, check_resampler
from .scoring.aggregate import aggregate
from .sharding import RankGroup, ShardSpec
from .store import MANIFEST, RunStore, SampleRecord, atomic_write_text, read_run, run_cost, writing
from .task import LoadedData, PromptVariant, Task, default_data_dir
from .types import EvalRun, GenerationConfig, ModelOutput, ModelSpec, Sample, Score, TaskMetrics, Unscored, stable_hash

log = logging.getLogger(__name__)

DEFAULT_OUTPUT_DIR = Path("results/runs")
LONG_AUDIO_POLICIES = ("truncate", "skip")
_PACKAGES = ("diffa-eval", "torch", "transformers", "datasets", "numpy", "jiwer", "soundfile", "soxr", "vllm")


@dataclass(frozen=True)
class RunOptions:
    """How to run: which split and how many samples, batching, seed, device and where to write."""

    split: str | None = None
    """None runs each task's default split."""
    limit: int | None = None
    """Run only the first `limit` samples of each task, in dataset order."""
    batch_size: int = 8
    seed: int = 0
    device: str = "auto"
    output_dir: Path = DEFAULT_OUTPUT_DIR
    data_dir: Path | None = None
    """Folder holding local copies of datasets; None uses DIFFA_EVAL_DATA_DIR, then the hub."""
    generation: Mapping[str, Any] = field(default_factory=dict)
    """Overrides of the tasks' generation settings (max_new_tokens, temperature, top_p, options);
    None values leave a task's setting as it is; `options` are merged into the task's options."""
    prompt: str | None = None
    """Force this prompt variant on every task; None lets each model pick (see `Task.select_prompt`)."""
    long_audio: str = "truncate"
    """Audio longer than a model's window (`max_audio_seconds`): `truncate` gives the model the first
    window's worth and records the cut on the sample; `skip` records the sample as failed."""
    backend: str | None = None
    """Run models on this inference backend ("transformers", "vllm"); None uses each model's default.
    Part of the model's identity (`name+backend`), so two backends never share records."""
    command: tuple[str, ...] = ()
    shard: ShardSpec | None = None
    """Run only this shard's samples, into the run directory all shards share (see `diffa_eval.sharding`)."""
    max_failures: float | None = None
    """The failed fraction a run may have (`--max-failures`), recorded so that reports can tell a run that
    failed beyond it from a good one; None when the caller sets no bound."""

    def __post_init__(self) -> None:
        try:  # values that cannot make a valid configuration fail here, before any work
            GenerationConfig().replace(**self.generation)
        except TypeError as error:
            raise ConfigError(f"unknown generation setting: {error}") from None
        if self.batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1, got {self.limit}")
        if self.long_audio not in LONG_AUDIO_POLICIES:
            raise ConfigError(f"long_audio must be one of {', '.join(LONG_AUDIO_POLICIES)}, got {self.long_audio!r}")


@dataclass(frozen=True)
class RunOutcome:
    """What happened to one (model, task) pair in this invocation."""

    model: str
    task: str
    split: str
    run_dir: Path | None
    metrics: TaskMetrics | None
    generated: int = 0
    """Samples produced by the model in this invocation."""
    reused: int = 0
    """Samples already in the run directory, not produced again."""
    rescored: int = 0
    """Reused samples scored again because their reference, choices or fields changed since."""
    error: str | None = None
    """Why the whole pair could not run (data or model failed to load)."""
    pending: str | None = None
    """Why some outputs have no score yet (e.g. no judge configured); they are scored on a re-run."""
    failure: str | None = None
    """The error of the first failed sample, when some failed."""
    shard: str | None = None
    """`I/N` when this process ran one shard of the samples."""
    missing: int = 0
    """Planned samples with no record yet (a sharded run waits for its other shards); metrics are None then."""

    @property
    def failed_fraction(self) -> float:
        if self.error is not None:
            return 1.0
        if self.metrics is None or self.metrics.n_samples == 0:
            return 0.0
        return self.metrics.n_failed / self.metrics.n_samples


class Progress(Protocol):
    """Receives progress events; the CLI shows them as rich progress bars."""

    def start(self, label: str, total: int, completed: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def finish(self) -> None: ...


class _NoProgress:
    def start(self, label: str, total: int, completed: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(frozen=True)
class _PlannedSample:
    sample: Sample
    key: str
    probe: audio.AudioProbe | None
    probe_error: str | None
    score_inputs: str


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def run_directory(output_dir: Path, spec: ModelSpec, task: Task, split: str, run_id: str) -> Path:
    """Where a run lives: <output>/<model>/<task>-<split>-<run id prefix>."""
    model_dir = _slug(spec.name) + (f"+{_slug(spec.backend)}" if spec.backend else "")
    if spec.checkpoint:
        tail = "_".join(Path(spec.checkpoint).parts[-2:])
        model_dir += f"@{_slug(tail)}-{stable_hash(spec.checkpoint)[:6]}"
    return output_dir / model_dir / f"{task.name}-{split}-{run_id[:8]}"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def source_git_sha() -> str | None:
    """The commit of the diffa-eval source when it runs from a git checkout, "-dirty" if modified."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def check_writable(folder: Path) -> None:
    """Fail early, with a clear message, when run directories cannot be created under `folder`."""
    probe = folder / f".write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"diffa-eval")
        probe.unlink()
    except OSError as error:
        raise StoreError(f"cannot write to output directory {folder}: {error.strerror or error}") from None


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
    a limit; `model_input` is the rest of the request the model sees (see `model_input`); `resampler`
    is the resampler that changes the audio the model hears (named only when it is not the default, soxr)."""
    parts: list[Any] = [str(spec), generation.to_dict(), task.name, task.version, prompt_variant, sample_id]
    window = [list(audio_window)] if audio_window else []
    extra = [] if resampler == DEFAULT_RESAMPLER else [resampler]
    return stable_hash([*parts, audio_sha256, *window, dict(model_input or {}), *extra])


def model_input(task: Task, variant: PromptVariant, sample: Sample, reads_reference: bool) -> dict[str, Any]:
    """The request a model gets for a sample, besides its audio: the prompt text, the answer options and,
    for a model that reads it (the oracle), the reference."""
    request: dict[str, Any] = {"prompt": variant.build(sample), "choices": list(task.answer_options(sample))}
    if reads_reference:
        request["reference"] = task.ideal_answer(sample)
    return request


def score_inputs(task: Task, sample: Sample) -> str:
    """A hash of what a sample's score depends on besides the output: its reference, choices and fields."""
    return stable_hash([sample.reference, list(sample.choices), list(task.answer_options(sample)), dict(sample.fields)])


def variant_info(
    adapter: ModelAdapter, task: Task, variant: PromptVariant, generation: GenerationConfig
) -> VariantInfo:
    """How a run's settings differ from the model's default run of the task (its preferred prompt variant, the
    task's and that variant's generation settings, seed 0), with a short label for leaderboard rows."""
    preferred = task.select_prompt(getattr(adapter, "prompt_variants", ()))
    default = run_generation(task, preferred, {}, 0).to_dict()
    chosen = generation.to_dict()
    settings: dict[str, Any] = {}
    if variant.name != preferred.name:
        settings["prompt"] = variant.name
    for name in ("max_new_tokens", "temperature", "top_p", "seed"):
        if chosen[name] != default[name]:
            settings[name] = chosen[name]
    options = {k: v for k, v in chosen["options"].items() if k not in default["options"] or default["options"][k] != v}
    if options:
        settings["options"] = options
    describe = getattr(adapter, "describe_options", None)
    return VariantInfo(settings, variant_label(settings, describe))


def variant_label(settings: Mapping[str, Any], describe_options: Any = None) -> str:
    """A short text for the distinguishing settings, e.g. "threshold+dual-cache τ=0.9, prompt diffa";
    `describe_options` (an adapter's, optional) writes its own options, e.g. a decoding mode with its parameters."""
    parts = []
    options = settings.get("options")
    if options:
        text = describe_options(options) if describe_options is not None else None
        parts.append(text or " ".join(f"{key}={_short(value)}" for key, value in sorted(options.items())))
    if "prompt" in settings:
        parts.append(f"prompt {settings['prompt']}")
    for name, label in _SETTING_LABELS:
        if name in settings:
            parts.append(f"{label}{_short(settings[name])}")
    return ", ".join(parts)


_SETTING_LABELS = (("max_new_tokens", "max tokens "), ("temperature", "T="), ("top_p", "top-p "), ("seed", "seed "))


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def run_generation(task: Task, variant: PromptVariant, overrides: Mapping[str, Any], seed: int) -> GenerationConfig:
    """The generation settings of one run: the task's, then the prompt variant's, then the user's."""
    base = task.generation_for(variant)
    changes = dict(overrides)
    options = {**base.options, **(changes.pop("options", None) or {})}
    return base.replace(**changes, seed=seed, options=options)


def _probe(sample: Sample) -> tuple[audio.AudioProbe | None, str | None]:
    if sample.audio is None:  # never evaluated text-only: a benchmark item without its audio is broken
        return None, "sample has no audio: its record names no audio file or data"
    try:
        return audio.probe(sample.audio), None
    except AudioError as error:
        return None, str(error)


class Runner:
    """Runs models on tasks. Use `evaluate` for the common case."""

    def __init__(self, options: RunOptions, progress: Progress | None = None, group: RankGroup | None = None) -> None:
        """`group`: the torchrun ranks this process is one of; each rank runs shard RANK/WORLD_SIZE."""
        if group is not None and options.shard is not None:
            raise ConfigError("--shard cannot be combined with torchrun ranks: each rank already is a shard")
        self.options = options
        self.progress: Progress = progress or _NoProgress()
        self.group = group
        self._shard = ShardSpec(group.rank, group.world_size) if group is not None else options.shard
        self._git_sha = source_git_sha()
        self._packages = package_versions()

    def run(self, models: Sequence[ModelSpec], tasks: Sequence[Task]) -> list[RunOutcome]:
        """Every model on every task. A model or dataset that fails to load is reported in the
        outcomes, and the other pairs still run."""
        if not models or not tasks:
            raise ConfigError(f"nothing to run: no {'model' if not models else 'task'} named")
        models = [with_backend(spec, self.options.backend) for spec in models]  # unknown names fail here
        data_dir = self.options.data_dir or default_data_dir()
        if data_dir is not None and not data_dir.is_dir():
            origin = "--data-dir" if self.options.data_dir else "DIFFA_EVAL_DATA_DIR"
            raise ConfigError(f"the data folder {data_dir} ({origin}) does not exist or is not a folder")
        check_writable(self.options.output_dir)
        splits = {task.name: self.options.split or task.default_split for task in tasks}
        for task in tasks:
            task.check_split(splits[task.name])
            task.select_prompt(forced=self.options.prompt)  # an unknown forced variant fails before any work
        data: dict[str, LoadedData | str] = {task.name: self._load(task, splits[task.name]) for task in tasks}
        probes: dict[str, list[tuple[audio.AudioProbe | None, str | None]]] = {}
        outcomes: list[RunOutcome] = []
        for spec in models:
            try:
                adapter = load_model(spec, self.options.device)
            except Exception as error:
                message = f"model {spec} failed to load: {type(error).__name__}: {error}"
                log.error(message)
                outcomes += [RunOutcome(str(spec), t.name, splits[t.name], None, None, error=message) for t in tasks]
                for _ in tasks:
                    self._wait_for_ranks()
                continue
            try:
                for task in tasks:
                    loaded = data[task.name]
                    if isinstance(loaded, str):
                        outcomes.append(RunOutcome(str(spec), task.name, splits[task.name], None, None, error=loaded))
                        self._wait_for_ranks()
                        continue
                    if task.name not in probes:
                        probes[task.name] = self._probe_all(loaded.samples)
                    outcomes.append(self._run_one(adapter, spec, task, splits[task.name], loaded, probes[task.name]))
            finally:
                adapter.close()
        return outcomes

    def _load(self, task: Task, split: str) -> LoadedData | str:
        try:
            loaded = task.load(split, self.options.data_dir or default_data_dir())
        except DiffaEvalError as error:
            return f"{task.name}: {error}"
        except Exception as error:  # e.g. a hub or network failure inside `datasets`
            return f"{task.name}: could not load {split}: {type(error).__name__}: {error}"
        samples = loaded.samples[: self.options.limit] if self.options.limit else loaded.samples
        if not samples:
            return f"{task.name}: {split} has no samples ({loaded.info.id} is empty)"
        duplicates = sorted(sample_id for sample_id, n in Counter(s.id for s in samples).items() if n > 1)
        if duplicates:
            shown = ", ".join(duplicates[:5]) + (" ..." if len(duplicates) > 5 else "")
            return f"{task.name}: {len(duplicates)} duplicate sample ids in {split}: {shown}"
        return LoadedData(samples, loaded.info, total=len(loaded.samples))

    def _probe_all(self, samples: Sequence[Sample]) -> list[tuple[audio.AudioProbe | None, str | None]]:
        pool = ThreadPoolExecutor(max_workers=8)
        try:
            return list(pool.map(_probe, samples))
        finally:
            # On Ctrl-C, drop the probes not started yet rather than waiting for every one of them.
            pool.shutdown(wait=False, cancel_futures=True)

    def _run_one(
        self,
        adapter: ModelAdapter,
        spec: ModelSpec,
        task: Task,
        split: str,
        loaded: LoadedData,
        probes: Sequence[tuple[audio.AudioProbe | None, str | None]],
    ) -> RunOutcome:
        variant = task.select_prompt(getattr(adapter, "prompt_variants", ()), self.options.prompt)
        limit: float | None = getattr(adapter, "max_audio_seconds", None)
        window = (limit, self.options.long_audio) if limit else None
        resampler = _resampler(adapter)
        generation = run_generation(task, variant, self.options.generation, self.options.seed)
        run_id = stable_hash([str(spec), task.name, task.version, split, variant.name, generation.to_dict()])
        directory = run_directory(self.options.output_dir, spec, task, split, run_id)
        reads_reference = bool(getattr(adapter, "reads_reference", False))
        plan = []
        for s, (p, e) in zip(loaded.samples, probes, strict=True):
            heard = resampler if p and p.sampling_rate != adapter.sampling_rate else DEFAULT_RESAMPLER
            request = model_input(task, variant, s, reads_reference)
            sha256 = p.sha256 if p else None
            key = resume_key(spec, generation, task, variant.name, s.id, sha256, window, request, heard)
            plan.append(_PlannedSample(s, key, p, e, score_inputs(task, s)))
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
            seed=self.options.seed,
            device=adapter.device,
            started_at=self._first_start(directory),
            packages=self._packages,
            git_sha=self._git_sha,
            command=self.options.command,
            description=task.describe(),
            variant=variant_info(adapter, task, variant, generation),
            scope=SampleScope(
                dataset=loaded.total if loaded.total is not None else len(plan),
                planned=len(plan),
                limit=self.options.limit,
                max_failures=self.options.max_failures,
            ),
        )
        if self._shard is not None:
            return self._run_shard(adapter, task, variant, generation, plan, manifest, directory, self._shard)
        with RunStore(directory) as store:
            store.write_manifest(manifest)
            store.write_plan({p.key: p.sample.id for p in plan})
            done = {key for key, record in store.records().items() if not record.needs_output}
            pending = [p for p in plan if p.key not in done]
            self.progress.start(f"{spec} · {task.name} ({split})", len(plan), len(plan) - len(pending))
            try:
                for batch_records in self._produce(adapter, task, variant, generation, pending):
                    for record in batch_records:
                        store.append(record)
                    store.sync()
                    self.progress.advance(len(batch_records))
            finally:
                self.progress.finish()
            rescored = self._score_stored(store, task, {p.key: p for p in plan})
            metrics, records = self._finish(store, task, plan, manifest)
        waiting, failure = _first_reasons(records, [p.key for p in plan])
        return RunOutcome(
            str(spec),
            task.name,
            split,
            directory,
            metrics,
            len(pending),
            len(plan) - len(pending),
            rescored,
            pending=waiting,
            failure=failure,
        )

    def _run_shard(
        self,
        adapter: ModelAdapter,
        task: Task,
        variant: PromptVariant,
        generation: GenerationConfig,
        plan: Sequence[_PlannedSample],
        manifest: EvalRun,
        directory: Path,
        shard: ShardSpec,
    ) -> RunOutcome:
        """Produce this shard's pending samples into the shared run directory, then finish the run if no
        planned sample is left unrecorded: any shard may (the last to finish does it last, under the
        records lock); under torchrun only rank 0 does, after every rank is done."""
        finishes = self.group is None or self.group.rank == 0
        keys = {p.key: p.sample.id for p in plan}
        manifest = replace(manifest, shards=shard.count)
        with RunStore(directory, shared=True) as store:
            # Rank 0 owns the manifest; another rank writes it only where rank 0 never will (node-local
            # output dirs), so that `merge --into` can find that node's records.
            if finishes or not (directory / MANIFEST).exists():
                with store.locked():
                    store.write_manifest(manifest)
                    store.write_plan(keys)
            mine = [p for p in plan if shard.owns(p.key)]
            done = {key for key, record in store.records().items() if not record.needs_output}
            pending = [p for p in mine if p.key not in done]
            label = f"{manifest.model} · {task.name} ({manifest.split}) shard {shard}"
            self.progress.start(label, len(mine), len(mine) - len(pending))
            try:
                for batch_records in self._produce(adapter, task, variant, generation, pending):
                    store.append_all(batch_records)
                    store.sync()
                    self.progress.advance(len(batch_records))
            finally:
                self.progress.finish()
            rescored = self._score_stored(store, task, {p.key: p for p in mine})
            self._wait_for_ranks()
            records = store.records()
            missing = [key for key in keys if key not in records]
            metrics = None
            if finishes and not missing:
                self._score_stored(store, task, {p.key: p for p in plan})  # e.g. left by a shard without judge
                metrics, records = self._finish(store, task, plan, manifest)
        waiting, failure = _first_reasons(records, keys)
        return RunOutcome(
            manifest.model,
            task.name,
            manifest.split,
            directory,
            metrics,
            len(pending),
            len(mine) - len(pending),
            rescored,
            pending=waiting,
            failure=failure,
            shard=str(shard),
            missing=len(missing),
        )

    def _finish(
        self, store: RunStore, task: Task, plan: Sequence[_PlannedSample], manifest: EvalRun
    ) -> tuple[TaskMetrics, dict[str, SampleRecord]]:
        """Metrics, submission file, compaction and the complete manifest. For shards this happens under
        the records lock, so that two shards finishing at once finish one after the other, from every
        record; an exclusive writer is alone anyway."""
        with store.locked():
            records = store.records()
            planned = [records[p.key] for p in plan if p.key in records]
            metrics = aggregate(task.metrics, [record.scored() for record in planned], task.breakdown_fields)
            metrics = replace(metrics, cost=run_cost(planned))
            store.write_metrics(metrics)
            _write_submission(task, plan, records, store.directory)
            store.compact({p.key: p.sample.id for p in plan})
            store.write_manifest(_finished(manifest))
        return metrics, records

    def _wait_for_ranks(self) -> None:
        """Under torchrun, wait until every rank has finished the current (model, task)."""
        if self.group is not None:
            self.group.barrier()

    def _score_stored(self, store: RunStore, task: Task, planned: Mapping[str, _PlannedSample]) -> int:
        """Score, all at once, the stored outputs that wait for a score, whose scoring failed, or whose
        reference, choices or fields changed since they were scored; returns how many of them changed."""
        records = [r for key, r in store.records().items() if key in planned and not r.needs_output]
        changed = [r for r in records if r.score_inputs != planned[r.key].score_inputs]
        waiting = [r for r in records if r.needs_score or r.score_inputs != planned[r.key].score_inputs]
        if not waiting:
            return 0
        samples = [planned[r.key].sample for r in waiting]
        results = task.score_batch([(sample, r.output) for sample, r in zip(samples, waiting, strict=True)])
        for record, sample, result in zip(waiting, samples, results, strict=True):
            current = replace(
                record,
                reference=sample.reference,
                groups=task.breakdown_labels(sample),
                score_inputs=planned[record.key].score_inputs,
            )
            store.append(_scored(current, result))
        store.sync()
        return len(changed)

    def _first_start(self, directory: Path) -> str:
        try:
            return read_run(directory).manifest.started_at
        except DiffaEvalError:
            return _now()

    def _produce(
        self,
        adapter: ModelAdapter,
        task: Task,
        variant: PromptVariant,
        generation: GenerationConfig,
        pending: Sequence[_PlannedSample],
    ) -> Iterator[list[SampleRecord]]:
        """Records for the pending samples, one batch at a time, decoding the next batch meanwhile."""
        unreadable = [p for p in pending if p.probe_error is not None]
        if unreadable:
            yield [_failure(task, variant, p, p.probe_error or "", "audio") for p in unreadable]
        readable = sorted(
            (p for p in pending if p.probe_error is None), key=lambda p: p.probe.seconds if p.probe else 0.0
        )
        size = self.options.batch_size
        batches = [readable[i : i + size] for i in range(0, len(readable), size)]
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
            decoding: deque[Future[list[tuple[_PlannedSample, audio.DecodedAudio | str | None]]]] = deque()
            resampler = _resampler(adapter)
            for batch in batches[:2]:
                decoding.append(pool.submit(self._decode, batch, adapter.sampling_rate, resampler))
            for index in range(len(batches)):
                decoded = decoding.popleft().result()
                if index + 2 < len(batches):
                    decoding.append(pool.submit(self._decode, batches[index + 2], adapter.sampling_rate, resampler))
                yield self._generate(adapter, task, variant, generation, decoded)

    @staticmethod
    def _decode(
        batch: Sequence[_PlannedSample], sampling_rate: int, resampler: str
    ) -> list[tuple[_PlannedSample, audio.DecodedAudio | str | None]]:
        decoded: list[tuple[_PlannedSample, audio.DecodedAudio | str | None]] = []
        for planned in batch:
            if planned.sample.audio is None:
                decoded.append((planned, None))
                continue
            try:
                decoded.append((planned, audio.decode(planned.sample.audio, sampling_rate, resampler)))
            except AudioError as error:
                decoded.append((planned, str(error)))
        return decoded

    def _generate(
        self,
        adapter: ModelAdapter,
        task: Task,
        variant: PromptVariant,
        generation: GenerationConfig,
        decoded: Sequence[tuple[_PlannedSample, audio.DecodedAudio | str | None]],
    ) -> list[SampleRecord]:
        records: list[SampleRecord] = []
        ready: list[tuple[_PlannedSample, audio.DecodedAudio | None, GenerationRequest]] = []
        for planned, result in decoded:
            if isinstance(result, str):
                records.append(_failure(task, variant, planned, result, "audio"))
                continue
            limit: float | None = getattr(adapter, "max_audio_seconds", None)
            shortest: int = getattr(adapter, "min_audio_samples", 0)
            array = None if result is None else result.array
            short = None if result is None else too_short(len(result.array), shortest, result.sampling_rate)
            if short is not None:
                records.append(_failure(task, variant, planned, short, "audio"))
                continue
            if result is not None and limit and result.seconds > limit:
                if self.options.long_audio == "skip":
                    message = f"audio is {result.seconds:.1f} s, longer than the model's {limit:g} s window"
                    records.append(_failure(task, variant, planned, message + " (--long-audio skip)", "audio"))
                    continue
                array = result.array[: int(limit * result.sampling_rate)]
            sample = planned.sample
            request = GenerationRequest(
                sample_id=sample.id,
                prompt=variant.build(sample),
                audio=array,
                choices=task.answer_options(sample),
                # only a model that declares it reads the reference gets it: it is then part of the resume key
                reference=task.ideal_answer(sample) if getattr(adapter, "reads_reference", False) else None,
            )
            ready.append((planned, result, request))
        outputs = _generate_isolated(adapter, [r for _, _, r in ready], generation)
        produced = [
            _record(task, planned, request, decoded_audio, output)
            for (planned, decoded_audio, request), output in zip(ready, outputs, strict=True)
        ]
        samples = [planned.sample for planned, _, _ in ready]
        return records + self._score_new(task, produced, samples)

    @staticmethod
    def _score_new(task: Task, produced: list[SampleRecord], samples: list[Sample]) -> list[SampleRecord]:
        """Score fresh outputs now, or mark them for scoring after generation (judge-scored tasks)."""
        ok = [i for i, record in enumerate(produced) if not record.failed]
        if task.scores_after_generation:
            results: list[Score | Unscored] = [Unscored("scored once the run is generated", pending=True)] * len(ok)
        else:
            results = task.score_batch([(samples[i], produced[i].output) for i in ok])
        scored = list(produced)
        for i, result in zip(ok, results, strict=True):
            scored[i] = _scored(produced[i], result)
        return scored


def _resampler(adapter: ModelAdapter) -> str:
    """The resampler the adapter asks for (`resampler`, optional), soxr by default."""
    try:
        return check_resampler(getattr(adapter, "resampler", DEFAULT_RESAMPLER))
    except ValueError as error:
        raise ConfigError(f"model {adapter.name}: {error}") from None


def _generate_isolated(
    adapter: ModelAdapter, requests: Sequence[GenerationRequest], generation: GenerationConfig
) -> list[ModelOutput]:
    """Generate a batch; if the batch raises, retry one request at a time so only the culprit fails."""
    if not requests:
        return []
    try:
        return _checked(adapter.generate(requests, generation), len(requests))
    except Exception as error:
        if len(requests) == 1:
            return [ModelOutput.failure(f"{type(error).__name__}: {error}")]
        log.warning("batch of %d failed (%s: %s); retrying one by one", len(requests), type(error).__name__, error)
    return [output for request in requests for output in _generate_isolated(adapter, [request], generation)]


def _checked(outputs: list[ModelOutput], expected: int) -> list[ModelOutput]:
    if len(outputs) != expected:
        raise RuntimeError(f"adapter returned {len(outputs)} outputs for {expected} requests")
    return outputs


def _failure(task: Task, variant: PromptVariant, planned: _PlannedSample, message: str, stage: str) -> SampleRecord:
    sample = planned.sample
    return SampleRecord(
        key=planned.key,
        sample_id=sample.id,
        prompt=variant.build(sample),
        reference=sample.reference,
        groups=task.breakdown_labels(sample),
        audio_seconds=planned.probe.seconds if planned.probe else None,
        audio_sha256=planned.probe.sha256 if planned.probe else None,
        error=message,
        error_stage=stage,
        score_inputs=planned.score_inputs,
    )


def _record(
    task: Task,
    planned: _PlannedSample,
    request: GenerationRequest,
    decoded: audio.DecodedAudio | None,
    output: ModelOutput,
) -> SampleRecord:
    """The record of a produced output, not yet scored."""
    sample = planned.sample
    truncated_to = None
    if decoded is not None and request.audio is not None and len(request.audio) < len(decoded.array):
        truncated_to = round(len(request.audio) / decoded.sampling_rate, 6)
    return SampleRecord(
        key=planned.key,
        sample_id=sample.id,
        prompt=request.prompt,
        output=output.text,
        reference=sample.reference,
        groups=task.breakdown_labels(sample),
        generated_tokens=output.generated_tokens,
        forward_passes=output.forward_passes,
        seconds=round(output.seconds, 6),
        encode_seconds=None if output.encode_seconds is None else round(output.encode_seconds, 6),
        decode_seconds=None if output.decode_seconds is None else round(output.decode_seconds, 6),
        model_details=dict(output.details),
        audio_seconds=decoded.seconds if decoded else None,
        audio_sha256=decoded.sha256 if decoded else None,
        audio_truncated_to=truncated_to,
        error=output.error,
        error_stage=None if output.error is None else "model",
        score_inputs=planned.score_inputs,
    )


def _write_submission(
    task: Task, plan: Sequence[_PlannedSample], records: Mapping[str, SampleRecord], directory: Path
) -> None:
    """The benchmark's submission file (withheld answers), from the recorded outputs in dataset order."""
    submission = task.submission([(p.sample, records[p.key].output if p.key in records else None) for p in plan])
    if submission is not None:
        with writing(directory / submission[0]):
            atomic_write_text(directory / submission[0], submission[1])


def _first_reasons(records: Mapping[str, SampleRecord], keys: Iterable[str]) -> tuple[str | None, str | None]:
    """Why the first waiting output waits, and the first failed sample's error, among `keys`."""
    mine = [records[key] for key in keys if key in records]
    waiting = next((r.pending for r in mine if r.pending), None)
    failure = next((r.error for r in mine if r.error), None)
    return waiting, failure


def _scored(record: SampleRecord, result: Score | Unscored) -> SampleRecord:
    """The record with a scoring result in place of any earlier one."""
    cleared = replace(
        record,
        extracted=None,
        score=None,
        score_details={},
        explanation=None,
        judgement=None,
        pending=None,
        error=None,
        error_stage=None,
    )
    if isinstance(result, Unscored):
        if result.pending:
            return replace(cleared, pending=result.reason)
        return replace(cleared, error=result.reason, error_stage="scoring")
    return replace(
        cleared,
        extracted=result.extracted,
        score=result.value,
        score_details=dict(result.details),
        explanation=result.explanation,
        judgement=None if result.judgement is None else dict(result.judgement),
    )


def _finished(manifest: EvalRun) -> EvalRun:
    return replace(manifest, status="complete", finished_at=_now())


def evaluate(
    models: Sequence[ModelSpec],
    tasks: Sequence[Task],
    options: RunOptions | None = None,
    progress: Progress | None = None,
    group: RankGroup | None = None,
) -> list[RunOutcome]:
    """Run every model on every task and return one outcome per pair; `group`: the torchrun ranks
    this process is one of (see `diffa_eval.sharding.TorchDistributedGroup`)."""
    return Runner(options or RunOptions(), progress, group).run(models, tasks)
