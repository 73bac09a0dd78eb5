"""Every metric of every stored run as one long table, for analysis in pandas (leaderboards: `tables`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..store import StoredRun

if TYPE_CHECKING:
    import pandas as pd


def runs_frame(runs: Sequence[StoredRun]) -> pd.DataFrame:
    """One row per (run, metric) of every completed run: the long format for analysis."""
    import pandas as pd

    rows = []
    for run in runs:
        if run.metrics is None:
            continue
        for name, value in run.metrics.metrics.items():
            rows.append(
                {
                    "model": run.manifest.model,
                    "variant": run.manifest.variant.label if run.manifest.variant is not None else "",
                    "task": run.manifest.task,
                    "split": run.manifest.split,
                    "metric": name,
                    "primary": name == run.metrics.primary_metric,
                    "value": value.value,
                    "ci_low": value.ci_low,
                    "ci_high": value.ci_high,
                    "n": value.n,
                    "lower_is_better": value.lower_is_better,
                    "n_samples": run.metrics.n_samples,
                    "n_failed": run.metrics.n_failed,
                    "finished_at": run.manifest.finished_at,
                    "run_dir": str(run.directory),
                }
            )
    return pd.DataFrame(rows)
