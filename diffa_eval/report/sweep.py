"""Checkpoint sweeps: one model spec per checkpoint matching a glob, and the trend of each column across them."""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..store import StoredRun
from ..types import ModelSpec
from .board import Column
from .plots.data import axis_label, metric_titles
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


@dataclass(frozen=True)
class Trend:
    """The leaderboard's columns across checkpoints: a point per row of the sweep's runs, in checkpoint order."""

    points: tuple[str, ...]
    """Each row's checkpoint folder name, with its variant's label when the spec has runs of several settings."""
    columns: tuple[Column, ...]
    values: tuple[Mapping[str, float], ...]
    """Per point: column key -> value."""
    axis_labels: Mapping[str, str]
    """Column key -> its quantity for an axis, e.g. `accuracy (%) ↑`."""


def checkpoint_trend(runs: Sequence[StoredRun], specs: Sequence[ModelSpec]) -> Trend:
    """Each column across the leaderboard rows of the specs' runs, in the order of `specs`.

    The rows and their runs are those the leaderboard shows (`select`), partial runs (a sweep with
    `--limit`) included; a spec with runs of several settings gives a row per setting, named with the
    variant's label.
    """
    names = [str(spec) for spec in specs]
    present = {run.manifest.model for run in runs if is_complete(run)}
    chosen = [name for name in names if name in present]
    table = build_table([run for run in runs if run.manifest.model in chosen], models=chosen, partial=True)
    by_name = {str(spec): spec for spec in specs}
    points = []
    for row in table.rows:
        spec = by_name[row.model]
        label = Path(spec.checkpoint).name if spec.checkpoint else str(spec)
        points.append(label + (f" · {row.variant.label}" if row.name != row.model else ""))
    titles = metric_titles(runs)
    return Trend(
        tuple(points),
        tuple(table.columns),
        tuple({key: cell.value for key, cell in row.cells.items()} for row in table.rows),
        {column.key: axis_label(column, titles) for column in table.columns},
    )
