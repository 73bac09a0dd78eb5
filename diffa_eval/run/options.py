"""What a run is asked to do (`RunOptions`), what came of it (`RunOutcome`), and how it reports progress."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError
from ..models.model_args import check_model_args
from ..types import GenerationConfig, TaskMetrics

if TYPE_CHECKING:
    from ..scoring.judge import JudgeSettings
    from .sharding import ShardSpec

DEFAULT_OUTPUT_DIR = Path("results/runs")
LONG_AUDIO_POLICIES = ("truncate", "skip")


@dataclass(frozen=True)
class RunOptions:
    """How to run: which split and how many samples, batching, seed, device, judge and where to write."""

    split: str | None = None
    """None runs each task's default split."""
    limit: int | float | None = None
    """Run only the first `limit` samples of each task, in dataset order; a fraction 0 < f < 1 is that share
    of each task's samples, rounded up (`limit_count`)."""
    batch_size: int | str = 8
    """Samples per model call, or "auto": the largest batch that fits on the device, found by halving on
    out-of-memory (see `diffa_eval.run.execute.BatchSize`; recorded in the manifest's `batching`)."""
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
    """Run only this shard's samples, into the run directory all shards share (see `diffa_eval.run.sharding`)."""
    max_failures: float | None = None
    """The failed fraction a run may have (`--max-failures`), recorded so that reports can tell a run that
    failed beyond it from a good one; None when the caller sets no bound."""
    model_args: Mapping[str, Any] = field(default_factory=dict)
    """Load settings of transformers-backed models (`--model-args`: dtype, attn_implementation, device_map,
    revision, trust_remote_code; see `diffa_eval.models.model_args`), given to every such model of the run."""
    allow_remote_code: bool = False
    """Allow `trust_remote_code=true` among `model_args` (`--allow-remote-code`)."""
    judge: JudgeSettings | None = None
    """The LLM judge of judge-scored tasks (its URL, model and request handling); None: the default judge
    (`JudgeSettings.chosen()`: DIFFA_EVAL_JUDGE_BASE_URL and DIFFA_EVAL_JUDGE_MODEL, else OpenAI's gpt-4o-mini).
    Its URL and model are recorded in the manifest of judge-scored runs. The API key is read from the
    environment when requests are sent (see `JudgeSettings.with_key_from_env`), and never stored."""

    def __post_init__(self) -> None:
        try:  # values that cannot make a valid configuration fail here, before any work
            GenerationConfig().replace(**self.generation)
        except TypeError as error:
            raise ConfigError(f"unknown generation setting: {error}") from None
        if self.batch_size != "auto" and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ConfigError(f"batch size must be a number >= 1 or 'auto', got {self.batch_size!r}")
        check_model_args(self.model_args, self.allow_remote_code)
        if self.limit is not None:
            check_limit(self.limit)
        if self.long_audio not in LONG_AUDIO_POLICIES:
            raise ConfigError(f"long_audio must be one of {', '.join(LONG_AUDIO_POLICIES)}, got {self.long_audio!r}")

    def judge_settings(self) -> JudgeSettings:
        """The judge this run uses: `judge`, else the default one."""
        from ..scoring.judge import JudgeSettings

        return self.judge if self.judge is not None else JudgeSettings.chosen()


def check_limit(limit: float) -> None:
    """A limit is a whole number of samples >= 1 or a fraction strictly between 0 and 1."""
    whole = isinstance(limit, int) and not isinstance(limit, bool) and limit >= 1
    if not whole and not (isinstance(limit, float) and 0 < limit < 1):
        raise ConfigError(f"limit must be a whole number >= 1 or a fraction between 0 and 1, got {limit!r}")


def limit_count(limit: float | None, total: int) -> int:
    """How many of a split's `total` samples a run covers: all without a limit, the first `limit`, or a
    fraction of them rounded up (as lm-eval rounds `--limit` below 1), at least one."""
    if limit is None:
        return total
    if isinstance(limit, float):
        return min(total, max(1, math.ceil(limit * total)))
    return min(total, limit)


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


@dataclass(frozen=True)
class PlannedRun:
    """One (model, task) run as `Runner.plan` (`run --dry-run`) finds it, before any model loads."""

    model: str
    task: str
    split: str
    prompt_variant: str | None = None
    variant: str = ""
    """How the run's settings differ from the model's default run of the task (empty: they do not)."""
    samples: int | None = None
    """Samples the run covers (fewer than `dataset` under --limit)."""
    dataset: int | None = None
    recorded: int | None = None
    """Samples with a usable record already (in the run directory or in runs it takes records from)."""
    directory: Path | None = None
    note: str | None = None
    """Why the run cannot be planned (its data failed to load), or is planned only once its model loads."""


class Progress(Protocol):
    """Receives progress events; the CLI shows them as rich progress bars, or as plain lines off a terminal."""

    def start(self, label: str, total: int, completed: int) -> None: ...

    def advance(self, count: int, failed: int = 0) -> None:
        """`count` more samples recorded, `failed` of them failed."""
        ...

    def finish(self) -> None: ...


class NoProgress:
    """Progress that shows nothing."""

    def start(self, label: str, total: int, completed: int) -> None:
        pass

    def advance(self, count: int, failed: int = 0) -> None:
        pass

    def finish(self) -> None:
        pass
