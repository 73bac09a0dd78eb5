"""Running models on tasks: plan, execute and finish each (model, task) run, alone or in shards.

- `options`: what a run is asked to do (`RunOptions`) and what came of it (`RunOutcome`);
- `plan`: load and probe the data, prepare every sample once, the run's id, directory and manifest;
- `execute`: batches, audio decoding, generation, records and scoring of new outputs;
- `finish`: metrics with their cost, the submission file, compaction and the complete manifest, from the
  run directory alone: the one finishing step of the runner, of shards and of `merge`;
- `merge`: gather and finish shards written to several output folders;
- `sharding`: which samples a shard owns, and torchrun's ranks;
- `runner`: the loop over models and tasks (`evaluate`).
"""

from __future__ import annotations

from .options import RunOptions, RunOutcome
from .runner import Runner, evaluate

__all__ = ["RunOptions", "RunOutcome", "Runner", "evaluate"]
