"""`diffa_eval.runner`, the import path of the runner's public names; the runner itself is `diffa_eval.run`."""

from __future__ import annotations

from .run.options import RunOptions, RunOutcome
from .run.runner import Runner, evaluate
from .run.variant import variant_info

__all__ = ["RunOptions", "RunOutcome", "Runner", "evaluate", "variant_info"]
