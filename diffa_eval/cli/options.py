"""Each option shared by the commands that run models, defined once, and the one place that builds RunOptions.

`run`, `sweep` and `compare-backends` declare a parameter `args: RunArgs`; the `run_parameters` decorator
puts every shared option (`SHARED_OPTIONS`) in its place, so the three commands offer the same options
with the same meaning, and `RunArgs.options` turns them into `RunOptions`. Options that several
commands take without running models (`--tasks-dir`, the judge) are defined here too.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .app import load_task_dirs, parse_options, split_list

if TYPE_CHECKING:
    from ..run import RunOptions
    from ..run.sharding import ShardSpec
    from ..scoring.judge import JudgeSettings
    from ..task import Task


class LongAudio(str, Enum):
    truncate = "truncate"
    skip = "skip"


TasksDirOption = Annotated[
    list[Path] | None,
    typer.Option("--tasks-dir", help="Folder of extra task files (repeatable); also DIFFA_EVAL_TASKS_DIR."),
]
JudgeUrlOption = Annotated[
    str | None,
    typer.Option(
        "--judge-url",
        help="OpenAI-compatible base URL of the LLM judge (VoiceBench open-ended subsets and sd-qa); "
        "default DIFFA_EVAL_JUDGE_BASE_URL, else the OpenAI API with DIFFA_EVAL_JUDGE_API_KEY or OPENAI_API_KEY. "
        "Another judge gets only DIFFA_EVAL_JUDGE_API_KEY, never OPENAI_API_KEY.",
    ),
]
JudgeModelOption = Annotated[
    str | None,
    typer.Option("--judge-model", help="Judge model name; default DIFFA_EVAL_JUDGE_MODEL, else gpt-4o-mini."),
]
TasksOption = Annotated[str, typer.Option("--tasks", "-t", help="Comma-separated task or group names.")]


def parse_limit(text: str) -> float:
    """--limit: a whole number of samples (>= 1), or a fraction strictly between 0 and 1 of each task's samples."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value.is_integer() and value >= 1:
        return int(value)
    if 0 < value < 1:
        return value
    raise typer.BadParameter(f"{text!r} is neither a whole number of samples >= 1 nor a fraction between 0 and 1")


SHARED_OPTIONS: dict[str, tuple[Any, Any]] = {
    "tasks": (TasksOption, inspect.Parameter.empty),
    "split": (
        Annotated[
            str | None,
            typer.Option(help="Split to run (default: each task's test split; 'sample' = bundled offline sample)."),
        ],
        None,
    ),
    "limit": (
        Annotated[
            float | None,
            typer.Option(
                parser=parse_limit,
                metavar="N|FRACTION",
                help="Only the first N samples of each task, or that fraction of them (0 < f < 1, rounded up).",
            ),
        ],
        None,
    ),
    "batch_size": (
        Annotated[
            str,
            typer.Option(
                help="Samples per model call, or 'auto': start at 64 and halve a batch that runs out of GPU memory "
                "(the size that fitted is recorded in the manifest)."
            ),
        ],
        "8",
    ),
    "seed": (Annotated[int, typer.Option(help="Seed for sampling and for the chance baseline.")], 0),
    "device": (Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N.")], "auto"),
    "output_dir": (Annotated[Path, typer.Option(help="Where run directories are written.")], Path("results/runs")),
    "data_dir": (
        Annotated[Path | None, typer.Option(help="Folder with local dataset copies; also DIFFA_EVAL_DATA_DIR.")],
        None,
    ),
    "tasks_dir": (TasksDirOption, None),
    "max_failures": (
        Annotated[
            float | None,
            typer.Option(min=0.0, max=1.0, help="Exit non-zero when a run's failed fraction exceeds this."),
        ],
        0.0,
    ),
    "max_new_tokens": (
        Annotated[int | None, typer.Option(min=1, help="Override the tasks' generation length.")],
        None,
    ),
    "temperature": (
        Annotated[float | None, typer.Option(min=0.0, help="Override the sampling temperature (0 = greedy).")],
        None,
    ),
    "top_p": (Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Override nucleus sampling top-p.")], None),
    "option": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--option",
                "-o",
                help="Model-specific generation option KEY=VALUE (repeatable; VALUE parsed as JSON when it can "
                "be), e.g. -o steps=16 -o block_length=16.",
            ),
        ],
        None,
    ),
    "prompt": (
        Annotated[
            str | None,
            typer.Option(help="Use this prompt variant on every task (default: each model's preferred variant)."),
        ],
        None,
    ),
    "long_audio": (
        Annotated[
            LongAudio,
            typer.Option(
                help="Audio longer than a model's window: cut it to the window, or skip the sample (recorded)."
            ),
        ],
        LongAudio.truncate,
    ),
    "backend": (
        Annotated[
            str | None,
            typer.Option(help="Inference backend: transformers or vllm (default: each model's first backend)."),
        ],
        None,
    ),
    "judge_url": (JudgeUrlOption, None),
    "judge_model": (JudgeModelOption, None),
    "model_args": (
        Annotated[
            list[str] | None,
            typer.Option(
                "--model-args",
                help="Load settings of transformers-backed models, KEY=VALUE[,KEY=VALUE] (repeatable): dtype "
                "(float32, bfloat16, float16, auto), attn_implementation, device_map, revision, trust_remote_code. "
                "dtype, revision and attn_implementation are part of the model's identity.",
            ),
        ],
        None,
    ),
    "allow_remote_code": (
        Annotated[
            bool,
            typer.Option(
                "--allow-remote-code",
                help="Allow --model-args trust_remote_code=true: run Python code that comes with a checkpoint.",
            ),
        ],
        False,
    ),
}
"""Option name -> (annotation with its typer.Option, default) of every option the model-running commands share."""


def judge_settings(url: str | None, model: str | None) -> JudgeSettings:
    """The judge named on the command line, the DIFFA_EVAL_JUDGE_* variables being the defaults."""
    from ..scoring.judge import JudgeSettings

    return JudgeSettings.chosen(url or None, model or None)


@dataclass(frozen=True)
class RunArgs:
    """The shared options as given on the command line (see `SHARED_OPTIONS`)."""

    tasks: str
    split: str | None = None
    limit: float | None = None
    batch_size: str = "8"
    seed: int = 0
    device: str = "auto"
    output_dir: Path = Path("results/runs")
    data_dir: Path | None = None
    tasks_dir: list[Path] | None = None
    max_failures: float | None = 0.0
    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    option: list[str] | None = field(default=None)
    prompt: str | None = None
    long_audio: LongAudio = LongAudio.truncate
    backend: str | None = None
    judge_url: str | None = None
    judge_model: str | None = None
    model_args: list[str] | None = None
    allow_remote_code: bool = False

    def task_list(self) -> list[Task]:
        """The tasks named by --tasks, after loading the task files of --tasks-dir."""
        from ..task import resolve_tasks

        load_task_dirs(self.tasks_dir)
        return resolve_tasks(split_list(self.tasks))

    def options(self, shard: ShardSpec | None = None) -> RunOptions:
        """The run options these command-line options give."""
        from ..models.model_args import parse_model_args
        from ..run import RunOptions

        return RunOptions(
            split=self.split,
            limit=self.limit,
            batch_size=parse_batch_size(self.batch_size),
            seed=self.seed,
            device=self.device,
            output_dir=self.output_dir,
            data_dir=self.data_dir,
            generation={
                "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "options": parse_options(self.option or []),
            },
            prompt=self.prompt,
            long_audio=self.long_audio.value,
            backend=self.backend,
            command=tuple(sys.argv),
            shard=shard,
            max_failures=self.max_failures,
            model_args=parse_model_args(self.model_args or [], self.allow_remote_code),
            allow_remote_code=self.allow_remote_code,
            # named only when given: the default judge is resolved when a judge-scored task runs
            judge=judge_settings(self.judge_url, self.judge_model) if self.judge_url or self.judge_model else None,
        )


def parse_batch_size(text: str) -> int | str:
    """`--batch-size`: a number >= 1, or "auto"."""
    from ..errors import ConfigError

    value = text.strip().lower()
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"--batch-size must be a number >= 1 or 'auto', got {text!r}")
    return int(value)


def run_parameters(
    defaults: Mapping[str, Any] | None = None, exclude: Collection[str] = ()
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command every shared option in place of its parameter `args: RunArgs` (all but `exclude`, with
    `defaults` replacing the usual defaults); the command receives them as one `RunArgs`."""
    unknown = set(defaults or {}) | set(exclude)
    if unknown - SHARED_OPTIONS.keys():
        raise ValueError(f"not shared options: {', '.join(sorted(unknown - SHARED_OPTIONS.keys()))}")
    known = {spec.name for spec in fields(RunArgs)}
    assert known == SHARED_OPTIONS.keys(), "RunArgs holds exactly the shared options"

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        parameters: list[inspect.Parameter] = []
        for parameter in signature.parameters.values():
            if parameter.name != "args":  # keyword-only: the order of the options on --help is free
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
                continue
            for name, (annotation, default) in SHARED_OPTIONS.items():
                if name not in exclude:
                    value = (defaults or {}).get(name, default)
                    parameters.append(
                        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=value)
                    )

        def with_run_args(**values: Any) -> None:
            shared = {name: values.pop(name) for name in SHARED_OPTIONS if name in values}
            command(**values, args=RunArgs(**shared))

        with_run_args.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(with_run_args, attribute, getattr(command, attribute))
        return with_run_args

    return decorate
