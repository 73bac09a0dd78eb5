"""What a run says about its own results, so that reports, comparisons and merges need no task code.

A task describes itself (`Task.describe`) and the runner writes that description into each run's
manifest: the metrics as data (their rule, title, unit, direction and protocol), the fields its
breakdowns are by, the benchmark's leaderboard layout, the group scores the task takes part in with
their inputs, and the task's groups. A run is then rendered as it was measured, even after its task
file changed or is gone. The description of the run's settings (`VariantInfo`) and of its sample
selection (`SampleScope`) are written next to it. A benchmark whose answers are withheld describes its
submission file (`SubmissionForm`), so that finishing a run writes it from the store alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import DataError
from .scoring.metrics import Metric, metric_from_dict
from .types import SCHEMA_VERSION, DatasetInfo, GenerationConfig


@dataclass(frozen=True)
class ColumnSpec:
    """One leaderboard sub-column: a task's metric, overall or for one breakdown label, or a group score.

    For a group score (`group_score=True`), `task` names the group and `metric` the score (e.g.
    VoiceBench's overall).
    """

    label: str
    task: str
    metric: str
    breakdown: tuple[str, str] | None = None
    """(breakdown field, label), e.g. ("task", "sound") for MMAU's sound items."""
    group_score: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"label": self.label, "task": self.task, "metric": self.metric}
        if self.breakdown is not None:
            data["breakdown"] = list(self.breakdown)
        if self.group_score:
            data["group_score"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        breakdown = data.get("breakdown")
        return cls(
            label=str(data["label"]),
            task=str(data["task"]),
            metric=str(data["metric"]),
            breakdown=None if breakdown is None else (str(breakdown[0]), str(breakdown[1])),
            group_score=bool(data.get("group_score", False)),
        )


@dataclass(frozen=True)
class BenchmarkLayout:
    """A leaderboard column group: its id, title, sub-columns in display order and protocol footnote.

    Every task of a benchmark carries the same layout; the columns of the tasks not run stay empty.
    """

    id: str
    title: str
    columns: tuple[ColumnSpec, ...]
    protocol: str = ""
    """One footnote line naming the scoring protocol, e.g. "MMAU: accuracy (%), official string match"."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "protocol": self.protocol,
            "columns": [column.to_dict() for column in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchmarkLayout:
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            columns=tuple(ColumnSpec.from_dict(column) for column in data["columns"]),
            protocol=str(data.get("protocol", "")),
        )


@dataclass(frozen=True)
class ScoreInput:
    """One input of a group score: a task's metric, multiplied by `scale` (e.g. 1-5 ratings x 20)."""

    task: str
    metric: str
    scale: float = 1.0


@dataclass(frozen=True)
class GroupScore:
    """One overall number a group of tasks reports: the mean of its scaled inputs, once every input is there."""

    group: str
    name: str
    description: str
    inputs: tuple[ScoreInput, ...]
    lower_is_better: bool = False

    def compute(self, values: Mapping[tuple[str, str], float]) -> float | None:
        """(task, metric) -> value, in; the mean of the scaled inputs, or None when one is missing."""
        scaled = []
        for item in self.inputs:
            value = values.get((item.task, item.metric))
            if value is None:
                return None
            scaled.append(item.scale * value)
        return sum(scaled) / len(scaled) if scaled else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "description": self.description,
            "lower_is_better": self.lower_is_better,
            "inputs": [{"task": i.task, "metric": i.metric, "scale": i.scale} for i in self.inputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroupScore:
        return cls(
            group=str(data["group"]),
            name=str(data["name"]),
            description=str(data.get("description", "")),
            inputs=tuple(ScoreInput(str(i["task"]), str(i["metric"]), float(i["scale"])) for i in data["inputs"]),
            lower_is_better=bool(data.get("lower_is_better", False)),
        )


@dataclass(frozen=True)
class TaskDescription:
    """Everything a report needs to know about a run's task: metrics, breakdowns, layout, group scores."""

    task: str
    metrics: tuple[Metric, ...]
    """In the task's order; the first is the primary metric."""
    benchmark: BenchmarkLayout
    breakdown_fields: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    group_scores: tuple[GroupScore, ...] = ()
    description: str = ""

    @property
    def primary_metric(self) -> str:
        return self.metrics[0].name

    def metric(self, name: str) -> Metric | None:
        return next((metric for metric in self.metrics if metric.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "description": self.description,
            "metrics": [metric.to_dict() for metric in self.metrics],
            "breakdown_fields": list(self.breakdown_fields),
            "groups": list(self.groups),
            "benchmark": self.benchmark.to_dict(),
            "group_scores": [score.to_dict() for score in self.group_scores],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskDescription:
        try:
            return cls(
                task=str(data["task"]),
                description=str(data.get("description", "")),
                metrics=tuple(metric_from_dict(metric) for metric in data["metrics"]),
                breakdown_fields=tuple(data.get("breakdown_fields", ())),
                groups=tuple(data.get("groups", ())),
                benchmark=BenchmarkLayout.from_dict(data["benchmark"]),
                group_scores=tuple(GroupScore.from_dict(score) for score in data.get("group_scores", ())),
            )
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise DataError(f"unreadable task description: {type(error).__name__}: {error}") from None


def single_column_layout(task: str, metrics: Sequence[Metric]) -> BenchmarkLayout:
    """The layout of a task that declares none: a group of its own with its primary metric."""
    primary = metrics[0]
    return BenchmarkLayout(task, task, (ColumnSpec(primary.title or primary.name, task, primary.name),))


@dataclass(frozen=True)
class VariantInfo:
    """How a run's settings differ from the model's default run of its task, and the settings it was asked for.

    `settings` holds only what differs from the default run of this task (generation values, a forced
    prompt variant, a seed); `label` says it briefly (e.g. "threshold+dual-cache τ=0.9"), empty for the
    default settings. `asked` lists the settings the run was asked for, as given on the command line
    (e.g. `--max-new-tokens 16`, `-o decoding=threshold`), each with its label: a leaderboard row each. One
    command's runs share a row even where a value asked for is some task's own (16 tokens for MMAU), and a
    run that is the same computation under two requests belongs to both rows.
    """

    settings: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    asked: tuple[VariantInfo, ...] = ()

    def rows(self) -> tuple[VariantInfo, ...]:
        """The leaderboard rows the run belongs to: the settings it was asked for (runs that do not record
        them: their own settings)."""
        return self.asked or (VariantInfo(self.settings, self.label),)

    def with_asked(self, asked: VariantInfo) -> VariantInfo:
        """This variant, also asked for as `asked` (kept once)."""
        if any(dict(known.settings) == dict(asked.settings) for known in self.asked):
            return self
        return VariantInfo(self.settings, self.label, (*self.asked, asked))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"label": self.label, "settings": dict(self.settings)}
        if self.asked:
            data["asked"] = [item.to_dict() for item in self.asked]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VariantInfo:
        return cls(
            settings=dict(data.get("settings", {})),
            label=str(data.get("label", "")),
            asked=tuple(cls.from_dict(item) for item in data.get("asked", ())),
        )


@dataclass(frozen=True)
class SampleScope:
    """Which of the split's samples a run covers, and how many failures it tolerates."""

    dataset: int
    """Samples in the split."""
    planned: int
    """Samples the run covers: all of them, or the first `limit`."""
    limit: int | float | None = None
    """The `--limit` given: a number of samples, or a fraction of the split (0 < f < 1)."""
    max_failures: float | None = None
    """The failed fraction the run was allowed (`--max-failures`); None when not known."""

    @property
    def limited(self) -> bool:
        """True when the run covers fewer samples than the split has."""
        return self.planned < self.dataset

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "planned": self.planned,
            "limit": self.limit,
            "max_failures": self.max_failures,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleScope:
        max_failures = data.get("max_failures")
        return cls(
            dataset=int(data["dataset"]),
            planned=int(data["planned"]),
            limit=_limit(data.get("limit")),
            max_failures=None if max_failures is None else float(max_failures),
        )


def _limit(value: Any) -> int | float | None:
    """A stored limit: a whole number of samples, or a fraction below 1."""
    if value is None:
        return None
    number = float(value)
    return number if number < 1 else int(number)


@dataclass(frozen=True)
class SubmissionForm:
    """The submission file of a benchmark whose answers are withheld: a JSON list with one object per planned
    sample, in dataset order, holding the sample's metadata fields and the model's text under each of
    `output_fields` ("" where there is none). The runner stores every sample's fields when it plans the run
    (`submission-plan.json`), so that whatever finishes the run, the runner or `merge`, writes the file from the
    run directory alone."""

    file_name: str
    output_fields: tuple[str, ...]

    def render(self, entries: Sequence[tuple[Mapping[str, Any], str | None]]) -> str:
        """The file's content for (sample fields, model text) pairs in dataset order."""
        rows = [{**fields, **{name: text or "" for name in self.output_fields}} for fields, text in entries]
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"file_name": self.file_name, "output_fields": list(self.output_fields)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubmissionForm:
        return cls(str(data["file_name"]), tuple(str(name) for name in data["output_fields"]))


@dataclass(frozen=True)
class EvalRun:
    """The manifest of one run: one model on one task split, with everything needed to reproduce it."""

    run_id: str
    model: str
    task: str
    task_version: int
    split: str
    generation: GenerationConfig
    dataset: DatasetInfo
    seed: int
    device: str
    started_at: str
    prompt_variant: str = "default"
    """The task's prompt variant the model was given (see `Task.select_prompt`)."""
    status: str = "running"
    """`running` while samples are being produced, `complete` once metrics are written."""
    finished_at: str | None = None
    model_info: Mapping[str, Any] = field(default_factory=dict)
    packages: Mapping[str, str] = field(default_factory=dict)
    git_sha: str | None = None
    command: tuple[str, ...] = ()
    shards: int | None = None
    """How many shards (--shard I/N or torchrun ranks) the last attempt spread the samples over; None
    when one process ran them. Not part of the run id: shards of any count share one run directory."""
    description: TaskDescription | None = None
    """The task's metrics, layout and group scores as data (see `diffa_eval.describe`); None in version-1 runs."""
    variant: VariantInfo | None = None
    """How this run's settings differ from the model's default run of the task; None in version-1 runs."""
    scope: SampleScope | None = None
    """How many of the split's samples the run covers; None in version-1 runs."""
    judge: Mapping[str, Any] | None = None
    """The LLM judge that scores the task (`url`, `model`), for judge-scored tasks; never a key."""
    batching: Mapping[str, Any] | None = None
    """How the last attempt batched the samples: `batch_size` (a number, or `auto` with the `start` size, the
    largest batch that ran (`fitted`) and the sizes that ran out of device memory (`out_of_memory_at`));
    None until a run finishes."""
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "run_id": self.run_id,
            "status": self.status,
            "model": self.model,
            "model_info": dict(self.model_info),
            "task": self.task,
            "task_version": self.task_version,
            "split": self.split,
            "prompt_variant": self.prompt_variant,
            "generation": self.generation.to_dict(),
            "dataset": self.dataset.to_dict(),
            "seed": self.seed,
            "device": self.device,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "packages": dict(self.packages),
            "git_sha": self.git_sha,
            "command": list(self.command),
            "shards": self.shards,
            "description": None if self.description is None else self.description.to_dict(),
            "variant": None if self.variant is None else self.variant.to_dict(),
            "scope": None if self.scope is None else self.scope.to_dict(),
            "judge": None if self.judge is None else dict(self.judge),
            "batching": None if self.batching is None else dict(self.batching),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalRun:
        description, variant, scope = data.get("description"), data.get("variant"), data.get("scope")
        return cls(
            schema_version=int(data["schema_version"]),
            run_id=data["run_id"],
            status=data["status"],
            model=data["model"],
            model_info=dict(data.get("model_info", {})),
            task=data["task"],
            task_version=int(data["task_version"]),
            split=data["split"],
            prompt_variant=data.get("prompt_variant", "default"),
            generation=GenerationConfig.from_dict(data["generation"]),
            dataset=DatasetInfo(**data["dataset"]),
            seed=int(data["seed"]),
            device=data["device"],
            started_at=data["started_at"],
            finished_at=data.get("finished_at"),
            packages=dict(data.get("packages", {})),
            git_sha=data.get("git_sha"),
            command=tuple(data.get("command", ())),
            shards=data.get("shards"),
            description=None if description is None else TaskDescription.from_dict(description),
            variant=None if variant is None else VariantInfo.from_dict(variant),
            scope=None if scope is None else SampleScope.from_dict(scope),
            judge=None if data.get("judge") is None else dict(data["judge"]),
            batching=None if data.get("batching") is None else dict(data["batching"]),
        )
