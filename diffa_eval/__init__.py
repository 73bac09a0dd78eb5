"""diffa-eval: a benchmark harness for large audio-language models, diffusion and autoregressive.

The public names below are imported on first use, so `import diffa_eval` stays cheap and never
imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AudioRef": "diffa_eval.types",
    "DatasetInfo": "diffa_eval.types",
    "EvalRun": "diffa_eval.describe",
    "GenerationConfig": "diffa_eval.types",
    "MetricValue": "diffa_eval.types",
    "ModelOutput": "diffa_eval.types",
    "ModelSpec": "diffa_eval.types",
    "Sample": "diffa_eval.types",
    "Score": "diffa_eval.types",
    "TaskMetrics": "diffa_eval.types",
    "DiffaEvalError": "diffa_eval.errors",
    "GenerationRequest": "diffa_eval.models",
    "MODELS": "diffa_eval.models",
    "ModelAdapter": "diffa_eval.models",
    "RunOptions": "diffa_eval.run",
    "RunOutcome": "diffa_eval.run",
    "evaluate": "diffa_eval.run",
    "ShardSpec": "diffa_eval.run.sharding",
    "merge_runs": "diffa_eval.run.merge",
    "SCORERS": "diffa_eval.scoring.scorers",
    "LoadedData": "diffa_eval.task",
    "TASKS": "diffa_eval.task",
    "Task": "diffa_eval.task",
    "register_task": "diffa_eval.task",
    "resolve_tasks": "diffa_eval.task",
    "find_runs": "diffa_eval.store",
}

__all__ = [
    "MODELS",
    "SCORERS",
    "TASKS",
    "AudioRef",
    "DatasetInfo",
    "DiffaEvalError",
    "EvalRun",
    "GenerationConfig",
    "GenerationRequest",
    "LoadedData",
    "MetricValue",
    "ModelAdapter",
    "ModelOutput",
    "ModelSpec",
    "RunOptions",
    "RunOutcome",
    "Sample",
    "Score",
    "ShardSpec",
    "Task",
    "TaskMetrics",
    "__version__",
    "evaluate",
    "find_runs",
    "merge_runs",
    "register_task",
    "resolve_tasks",
]

if TYPE_CHECKING:
    from .describe import EvalRun
    from .errors import DiffaEvalError
    from .models import MODELS, GenerationRequest, ModelAdapter
    from .run import RunOptions, RunOutcome, evaluate
    from .run.merge import merge_runs
    from .run.sharding import ShardSpec
    from .scoring.scorers import SCORERS
    from .store import find_runs
    from .task import TASKS, LoadedData, Task, register_task, resolve_tasks
    from .types import (
        AudioRef,
        DatasetInfo,
        GenerationConfig,
        MetricValue,
        ModelOutput,
        ModelSpec,
        Sample,
        Score,
        TaskMetrics,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'diffa_eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
