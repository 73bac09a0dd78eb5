"""What a benchmark task is, and where tasks come from.

A task is a Python object (a `Task` subclass instance) registered by a task module: the
built-in ones in the top-level `tasks/` folder, the modules in folders named by `--tasks-dir`
or the `DIFFA_EVAL_TASKS_DIR` environment variable, and modules of installed packages that
declare a `diffa_eval.tasks` entry point. In a folder, a task module is a `.py` file or a package
(a sub-folder with an `__init__.py`, whose own modules import each other relatively); folders
without one hold data. Task modules call `register_task`; they must not import torch at module
level. The built-in folder is the package `diffa_eval._builtin_tasks` (see `builtin_module`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
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
    """The official scoring rule: a shared one from `SCORERS`, or the benchmark's own scorer object."""
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

BUILTIN_PACKAGE = "diffa_eval._builtin_tasks"
"""The import name of the built-in task folder, in a checkout and in a wheel alike."""


def _accept_task(obj: Any) -> str | None:
    return None if isinstance(obj, Task) else f"expected a Task instance, got {type(obj).__name__}"


def builtin_tasks_dir() -> Path:
    """The folder of built-in task files: inside the package in a wheel, `tasks/` in a checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "_builtin_tasks", package.parent / "tasks"):
        if candidate.is_dir():
            return candidate
    raise RegistryError(f"built-in task folder not found next to {package}")


def builtin_module(name: str) -> ModuleType:
    """A module of the built-in tasks by its dotted name under `tasks/`, e.g. "voicebench.evaluators".

    The built-in folder is imported as the package `diffa_eval._builtin_tasks` wherever it lies (the
    top-level `tasks/` of a checkout, or inside an installed wheel), so tests and scripts reach a
    benchmark's code by one name, and a module imported this way is the very one the task registry uses.
    """
    _builtin_package()
    return importlib.import_module(f"{BUILTIN_PACKAGE}.{name}")


def _builtin_package() -> ModuleType:
    module = sys.modules.get(BUILTIN_PACKAGE)
    return module if module is not None else _import_folder_package(BUILTIN_PACKAGE, builtin_tasks_dir())


def _import_folder_package(module_name: str, folder: Path) -> ModuleType:
    """Import `folder` as the package `module_name`: its `__init__.py` runs (when it has one) and its
    submodules import relatively, as in any installed package."""
    init = folder / "__init__.py"
    spec = importlib.util.spec_from_file_location(
        module_name, init if init.is_file() else None, submodule_search_locations=[str(folder)]
    )
    if spec is None:
        raise RegistryError(f"cannot import the task folder {folder}")
    return _execute(spec)


def _execute(spec: ModuleSpec) -> ModuleType:
    """Run a module from its spec under its name; on failure, leave nothing of it (or of its submodules)
    in `sys.modules`, so that a fixed file loads on the next try."""
    if spec.loader is None:
        raise RegistryError(f"cannot load {spec.origin or spec.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for name in [name for name in sys.modules if name == spec.name or name.startswith(f"{spec.name}.")]:
            del sys.modules[name]
        raise
    return module


def _task_modules(folder: Path) -> list[Path]:
    """The task modules of a folder: its `.py` files and its packages (sub-folders with an `__init__.py`),
    in name order; names starting with "_" are left out, and so are folders without `__init__.py` (data)."""
    if not folder.is_dir():
        raise RegistryError(f"task folder does not exist: {folder}")
    found = list(folder.glob("*.py"))
    found += [path for path in folder.iterdir() if path.is_dir() and (path / "__init__.py").is_file()]
    return sorted((path for path in found if not path.name.startswith("_")), key=lambda path: path.name)


def _discover() -> None:
    _builtin_package()
    for path in _task_modules(builtin_tasks_dir()):
        _load(f"{BUILTIN_PACKAGE}.{path.stem}", path, f"builtin {path}")
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
    """Execute one task module, a `.py` file or a package folder, so that its `register_task` calls
    take effect. Each gets a module name of its own, from its name and a hash of its path."""
    path = path.resolve()
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    _load(f"_diffa_eval_task_{path.stem}_{digest}", path, f"{origin_prefix} {path}")


def _load(module_name: str, path: Path, origin: str) -> None:
    """Import the task module at `path` (a file, or a package folder) as `module_name`, once."""
    if module_name in sys.modules:
        return
    try:
        with _origin(origin):
            if module_name.startswith(f"{BUILTIN_PACKAGE}."):
                importlib.import_module(module_name)
            elif path.is_dir():
                _import_folder_package(module_name, path)
            else:
                spec = importlib.util.spec_from_file_location(module_name, path)
                if spec is None:
                    raise RegistryError(f"cannot load task file {path}")
                _execute(spec)
    except RegistryError:
        raise
    except Exception as error:
        what = "task package" if path.is_dir() else "task file"
        raise RegistryError(f"{what} {path} failed to load: {type(error).__name__}: {error}") from error


def _load_folder(folder: Path, origin_prefix: str) -> None:
    for path in _task_modules(folder):
        load_task_file(path, origin_prefix)


def add_tasks_dir(folder: Path) -> None:
    """Load the task modules of a user folder (after the built-in ones)."""
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
