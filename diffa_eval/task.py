"""What a benchmark task is, and where tasks come from.

A task is a Python object (a `Task` subclass instance) registered by a task file: the
built-in ones in the top-level `tasks/` folder, files in folders named by `--tasks-dir` or
the `DIFFA_EVAL_TASKS_DIR` environment variable, and modules of installed packages that
declare a `diffa_eval.tasks` entry point. Task files are plain Python files that call
`register_task`; they must not import torch at module level.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .describe import BenchmarkLayout, GroupScore, SubmissionForm, TaskDescription, single_column_layout
from .errors import ConfigError, DataError, RegistryError
from .registry import Registry
from .scoring.metrics import Metric
from .scoring.scorers import BatchScorer, Scorer
from .types import DatasetInfo, GenerationConfig, Sample, Score, Unscored

if TYPE_CHECKING:
    from .scoring.judge import JudgeSettings

TASKS_DIR_ENV = "DIFFA_EVAL_TASKS_DIR"
DATA_DIR_ENV = "DIFFA_EVAL_DATA_DIR"


@dataclass(frozen=True)
class LoadedData:
    """The samples of one split, in the dataset's order, and where they came from."""

    samples: list[Sample]
    info: DatasetInfo
    total: int | None = None
    """Samples in the whole split, when `samples` is only the first of them (a --limit); None otherwise."""


@dataclass(frozen=True)
class PromptVariant:
    """One way to prompt models on a task: the instruction text and the generation settings that
    go with it, e.g. the benchmark's official prompt, or the prompt and answer length a model
    family's authors evaluated with.

    `generation` overrides fields of the task's GenerationConfig; its `options` are merged into
    the task's options.
    """

    name: str
    description: str
    build: Callable[[Sample], str]
    generation: Mapping[str, Any] = field(default_factory=dict)


class Task(ABC):
    """A benchmark: how to load its samples, prompt a model and score the answers.

    Subclasses set the attributes below (class attributes, or in `__init__` for a family of
    tasks) and implement the three abstract methods. Bump `version` whenever the prompt or
    the scoring changes: the version is part of every sample's resume key and of the manifest.
    """

    name: str
    version: int
    description: str
    scorer: Scorer
    """The official scoring rule, usually one of `SCORERS`."""
    metrics: tuple[Metric, ...]
    groups: tuple[str, ...] = ()
    leaderboard: BenchmarkLayout | None = None
    """The benchmark's leaderboard column group, shared by all its tasks; None gives the task a group of
    its own with its primary metric."""
    group_scores: tuple[GroupScore, ...] = ()
    """Overall numbers of the task's groups that this task is an input of (e.g. VoiceBench's overall)."""
    splits: tuple[str, ...] = ("test", "sample")
    default_split: str = "test"
    generation: GenerationConfig = GenerationConfig()
    breakdown_fields: tuple[str, ...] = ()
    """Fields of `Sample.fields` by which metrics are also reported, e.g. ("task", "difficulty")."""
    prediction_fields: tuple[str, ...] = ("prediction",)
    """Fields that hold a model's text in prediction files given to `diffa-eval score`, by priority."""
    default_prompt: str = "default"
    """The name of the prompt variant that `prompt` builds."""
    prompt_variants: tuple[PromptVariant, ...] = ()
    """Other prompt variants, e.g. a model family's own evaluation prompt (see `select_prompt`)."""
    submission_form: SubmissionForm | None = None
    """The official submission file of a benchmark whose answers are withheld (each sample's `fields` plus the
    model's text); every finished run writes it. None for benchmarks that publish their answers."""

    @abstractmethod
    def load(self, split: str, data_dir: Path | None = None) -> LoadedData:
        """The samples of `split`, from `data_dir` when it holds the dataset, else from the hub."""

    @abstractmethod
    def sample_from_record(self, record: Mapping[str, Any], base_dir: Path | None = None) -> Sample:
        """A Sample from one record in the benchmark's native metadata schema."""

    @abstractmethod
    def prompt(self, sample: Sample) -> str:
        """The text instruction given to the model along with the audio (the default variant)."""

    def answer_options(self, sample: Sample) -> tuple[str, ...]:
        """The answers a model may give to a multiple-choice item, in the form the scorer reads
        (the option texts by default); the chance baseline picks among them."""
        return sample.choices

    def ideal_answer(self, sample: Sample) -> str | None:
        """The output that the scorer counts correct (the reference by default); the oracle returns it."""
        return sample.reference

    def prediction_of(self, record: Mapping[str, Any]) -> str | None:
        """The model text of a record in a predictions file given to `diffa-eval score`: the first of
        `prediction_fields` that holds a value; None when the record holds none. A value that is not
        text is a DataError: its printed form (e.g. "['yes']") is no model output. A task whose official
        scorer treats a missing or non-text value in its own way overrides this."""
        for name in self.prediction_fields:
            if record.get(name) is not None:
                value = record[name]
                if not isinstance(value, str):
                    raise DataError(f"the prediction in field {name!r} is {_json_kind(value)}, not text")
                return value
        return None

    def variants(self) -> dict[str, PromptVariant]:
        """Every prompt variant by name, the default first."""
        default = PromptVariant(self.default_prompt, "the task's default prompt", self.prompt)
        return {default.name: default, **{variant.name: variant for variant in self.prompt_variants}}

    def select_prompt(self, preferred: Sequence[str] = (), forced: str | None = None) -> PromptVariant:
        """The variant named by `forced`; else the first of a model's `preferred` variants that this
        task offers; else the default."""
        variants = self.variants()
        if forced is not None:
            if forced not in variants:
                raise ConfigError(
                    f"task {self.name!r} has no prompt variant {forced!r}; its variants: {', '.join(variants)}"
                )
            return variants[forced]
        return next((variants[name] for name in preferred if name in variants), variants[self.default_prompt])

    def generation_for(self, variant: PromptVariant) -> GenerationConfig:
        """The task's generation settings with the variant's overrides applied."""
        overrides = dict(variant.generation)
        options = {**self.generation.options, **overrides.pop("options", {})}
        return self.generation.replace(**overrides, options=options)

    def score(self, sample: Sample, prediction: str | None) -> Score:
        """Score one prediction exactly as the official scorer does."""
        return self.scorer(sample, prediction)

    @property
    def scores_after_generation(self) -> bool:
        """True when the scorer calls a service (a judge), so samples are scored together once generated."""
        return isinstance(getattr(self, "scorer", None), BatchScorer)

    def score_batch(
        self, items: Sequence[tuple[Sample, str | None]], judge: JudgeSettings | None = None
    ) -> list[Score | Unscored]:
        """Score many predictions; a prediction that cannot be scored comes back as `Unscored`. `judge`: the
        LLM judge a judge-scored task asks (None: the default one, see `JudgeSettings.chosen`)."""
        scorer = getattr(self, "scorer", None)  # a task may override `score` instead of naming a scorer
        if isinstance(scorer, BatchScorer):
            return scorer.score_batch(items, judge)
        results: list[Score | Unscored] = []
        for sample, prediction in items:
            try:
                results.append(self.score(sample, prediction))
            except Exception as error:
                results.append(Unscored(f"{type(error).__name__}: {error}"))
        return results

    def describe(self) -> TaskDescription:
        """The task as data, written into every run's manifest so that reports need no task code."""
        return TaskDescription(
            task=self.name,
            description=self.description,
            metrics=tuple(self.metrics),
            benchmark=self.leaderboard or single_column_layout(self.name, self.metrics),
            breakdown_fields=tuple(self.breakdown_fields),
            groups=tuple(self.groups),
            group_scores=tuple(self.group_scores),
        )

    @property
    def primary_metric(self) -> str:
        return self.metrics[0].name

    def breakdown_labels(self, sample: Sample) -> dict[str, str]:
        """The sample's value of each breakdown field that it has."""
        return {name: str(sample.fields[name]) for name in self.breakdown_fields if sample.fields.get(name) is not None}

    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise ConfigError(f"task {self.name!r} has no split {split!r}; its splits: {', '.join(self.splits)}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return "a list" if isinstance(value, list) else "an object"


_loading_origin: ContextVar[str] = ContextVar("_loading_origin", default="builtin")


def _accept_task(obj: Any) -> str | None:
    return None if isinstance(obj, Task) else f"expected a Task instance, got {type(obj).__name__}"


def builtin_tasks_dir() -> Path:
    """The folder of built-in task files: inside the package in a wheel, `tasks/` in a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_builtin_tasks", package.parent / "tasks"):
        if candidate.is_dir():
            return candidate
    raise RegistryError(f"built-in task folder not found next to {package}")


def _discover() -> None:
    _load_folder(builtin_tasks_dir(), origin_prefix="builtin")
    for folder in filter(None, os.environ.get(TASKS_DIR_ENV, "").split(os.pathsep)):
        _load_folder(Path(folder), origin_prefix=TASKS_DIR_ENV)


TASKS: Registry[Task] = Registry("task", entry_point_group="diffa_eval.tasks", discover=_discover, accept=_accept_task)


def register_task(task: Task) -> Task:
    """Register a task under its name; called by task files. Returns the task."""
    if not isinstance(task, Task):
        raise RegistryError(f"register_task expects a Task, got {type(task).__name__}")
    TASKS.register(task.name, task, description=task.description, origin=_loading_origin.get(), tags=task.groups)
    return task


@contextlib.contextmanager
def _origin(origin: str) -> Iterator[None]:
    token = _loading_origin.set(origin)
    try:
        yield
    finally:
        _loading_origin.reset(token)


def load_task_file(path: Path, origin_prefix: str = "file") -> None:
    """Execute one task file so that its `register_task` calls take effect."""
    path = path.resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    module_name = f"_diffa_eval_task_{path.stem}_{digest}"
    if module_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise RegistryError(f"cannot load task file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with _origin(f"{origin_prefix} {path}"):
            spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        if isinstance(error, RegistryError):
            raise
        raise RegistryError(f"task file {path} failed to load: {type(error).__name__}: {error}") from error


def _load_folder(folder: Path, origin_prefix: str) -> None:
    if not folder.is_dir():
        raise RegistryError(f"task folder does not exist: {folder}")
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            load_task_file(path, origin_prefix)


def add_tasks_dir(folder: Path) -> None:
    """Load the task files of a user folder (after the built-in ones)."""
    TASKS.names()  # built-ins first, so that a clash is reported against the user file
    _load_folder(folder, origin_prefix="--tasks-dir")


def task_groups() -> dict[str, list[str]]:
    """Group name -> names of its tasks, sorted."""
    groups: dict[str, list[str]] = {}
    for entry in TASKS.entries():
        for group in entry.tags:
            groups.setdefault(group, []).append(entry.name)
    return groups


def resolve_tasks(names: Sequence[str]) -> list[Task]:
    """Tasks for a list of task and group names, in the order given, without repeats."""
    groups = task_groups()
    resolved: list[str] = []
    for name in names:
        if name in TASKS:
            members = [name]
        elif name in groups:
            members = groups[name]
        else:
            raise TASKS.unknown(name, also=tuple(groups))
        resolved.extend(member for member in members if member not in resolved)
    return [TASKS.get(name) for name in resolved]


def default_data_dir() -> Path | None:
    """The data folder named by DIFFA_EVAL_DATA_DIR, if set."""
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None
