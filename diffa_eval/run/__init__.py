"""Running models on tasks: plan, execute and finish each (model, task) run, alone or in shards.

- `options`: what a run is asked to do (`RunOptions`) and what came of it (`RunOutcome`);
- `preflight`: every check that needs no model, before any model loads, and the plan of `run --dry-run`;
- `plan`: load and probe the data, prepare every sample once, the run's id, directory and manifest;
- `execute`: batches, audio decoding, generation, records and scoring of new outputs;
- `finish`: metrics with their cost, the submission file, compaction and the complete manifest, from the
  run directory alone: the one finishing step of the runner, of shards and of `merge`;
- `merge`: gather and finish shards written to several output folders;
- `sharding`: which samples a shard owns, and torchrun's ranks;
- `runner`: the loop over models and tasks (`evaluate`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Imported on first use, so that `merge` and reports that import `diffa_eval.run.merge` or `.finish` load no
# task, model or dataset code.
_EXPORTS = {
    "RunOptions": "diffa_eval.run.options",
    "RunOutcome": "diffa_eval.run.options",
    "Runner": "diffa_eval.run.runner",
    "evaluate": "diffa_eval.run.runner",
}

__all__ = ["RunOptions", "RunOutcome", "Runner", "evaluate"]

if TYPE_CHECKING:
    from .options import RunOptions, RunOutcome
    from .runner import Runner, evaluate


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'diffa_eval.run' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
