"""Checkpoint sweeps: one model spec per checkpoint matching a glob, and the trend of each column across them."""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from ..store import StoredRun
from ..types import ModelSpec
from .select import is_complete
from .table import build_table


def _natural_key(path: str) -> list[int | str]:
    """checkpoint-2 before checkpoint-10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def expand_checkpoints(text: str) -> list[ModelSpec]:
    """`NAME[+BACKEND]@PATTERN` -> a spec per path matching the glob PATTERN, in natural order.

    A spec without glob characters is returned as it is; a pattern that matches nothing is an error.
    """
    spec = ModelSpec.parse(text)
    if spec.checkpoint is None or not glob.has_magic(spec.checkpoint):
        return [spec]
    paths = sorted(glob.glob(spec.checkpoint), key=_natural_key)
    if not paths:
        raise ConfigError(f"no checkpoint matches {spec.checkpoint!r}")
    return [ModelSpec(spec.name, checkpoint=path, backend=spec.backend) for path in paths]


def checkpoint_trend(runs: Sequence[StoredRun], specs: Sequence[ModelSpec]) -> list[tuple[str, dict[str, float]]]:
    """(checkpoint folder name, column -> value) per leaderboard row of the specs' runs, in the order of `specs`.

    The rows and their runs are those the leaderboard shows (`select`), partial runs (a sweep with
    `--limit`) included; a spec with runs of several settings gives a row per setting, named with the
    variant's label.
    """
    names = [str(spec) for spec in specs]
    present = {run.manifest.model for run in runs if is_complete(run)}
    chosen = [name for name in names if name in present]
    table = build_table([run for run in runs if run.manifest.model in chosen], models=chosen, partial=True)
    labels = {column.key: f"{column.group_title} {column.spec.label}" for column in table.columns}
    by_name = {str(spec): spec for spec in specs}
    trend = []
    for row in table.rows:
        spec = by_name[row.model]
        label = Path(spec.checkpoint).name if spec.checkpoint else str(spec)
        if row.name != row.model:
            label += f" · {row.variant.label}"
        trend.append((label, {labels[key]: cell.value for key, cell in row.cells.items()}))
    return trend
