"""What a leaderboard is, as every renderer reads it: columns grouped by benchmark, rows with their cells,
why a cell is empty (`GAPS`), the footnotes, and which values rank best and second. `table.build_table`
makes one from the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..describe import ColumnSpec, VariantInfo
from .cost import CostColumn, RowCost
from .notes import dataset_note


@dataclass(frozen=True)
class Column:
    """A sub-column as displayed: its benchmark group (per split), its spec and its metric's direction."""

    benchmark: str
    title: str
    split: str
    spec: ColumnSpec
    lower_is_better: bool = False
    unit: str = ""

    @property
    def key(self) -> str:
        """`benchmark:label`, plus `@split` for splits other than test."""
        base = f"{self.benchmark}:{self.spec.label}"
        return base if self.split == "test" else f"{base}@{self.split}"

    @property
    def group_title(self) -> str:
        return self.title if self.split == "test" else f"{self.title} ({self.split})"


@dataclass(frozen=True)
class Cell:
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n_failed: int = 0
    source: str = ""
    """The run directory, or the reported source's id."""
    self_reported: bool = False
    partial: str = ""
    """Why the value comes from a partial run (e.g. "3 of 10 samples"); empty for a full run."""


GAPS = {
    "failed": "every sample of its run failed",
    "pending": "its outputs await scoring (e.g. by the judge)",
    "partial": "only a partial run, left out (--partial shows it)",
    "n/a": "its run scored no sample of this column (the protocol left them out)",
}
"""Why a row's run holds no value in a column, as the cell shows it, and what that means."""

NOT_RUN = "–"


@dataclass(frozen=True)
class Row:
    name: str
    """The row's label: the model, plus " · " and its variant's label when the model has several rows."""
    kind: str
    """`measured`, `reported` or `delta` (measured - reported)."""
    cells: Mapping[str, Cell]
    model: str = ""
    """The model spec of a measured row."""
    variant: VariantInfo = field(default_factory=VariantInfo)
    cost: RowCost | None = None
    gaps: Mapping[str, str] = field(default_factory=dict)
    """Column key -> why a run of this row holds no value there (see `GAPS`); a column absent from both
    `cells` and `gaps` was not run."""


@dataclass(frozen=True)
class GroupedTable:
    columns: list[Column]
    rows: list[Row]
    footnotes: list[str] = field(default_factory=list)
    cost_columns: tuple[CostColumn, ...] = ()
    """With cost: the columns after the quality columns (see `cost.COST_COLUMNS`)."""
    partial_left_out: int = 0
    """Complete runs not shown because they are partial (and partial runs were not asked for)."""
    datasets: tuple[str, ...] = ()
    """The dataset versions the shown runs read; `footnotes` ends with them as `data_note`."""

    @property
    def data_note(self) -> str:
        return dataset_note(self.datasets)

    def groups(self) -> list[tuple[str, list[Column]]]:
        """Consecutive columns that share a group title, as (title, columns)."""
        groups: list[tuple[str, list[Column]]] = []
        for column in self.columns:
            if groups and groups[-1][0] == column.group_title and groups[-1][1][0].benchmark == column.benchmark:
                groups[-1][1].append(column)
            else:
                groups.append((column.group_title, [column]))
        return groups

    def ranks(self) -> dict[tuple[int, str], int]:
        """(row index, column key) -> 1 for the best value in the column, 2 for the second; ties share a rank.

        A rank is given only where it sets values apart: the best only when some value is worse, the second
        only when some value is worse than it too (so a column of equal values has no best, and of two
        distinct values only the better one is marked). Values of partial runs and delta rows are not ranked.
        """
        ranks: dict[tuple[int, str], int] = {}
        for column in self.columns:
            ranked = [
                (i, cell.value)
                for i, row in enumerate(self.rows)
                if row.kind != "delta" and (cell := row.cells.get(column.key)) is not None and not cell.partial
            ]
            if len(ranked) < 2:
                continue
            sign = 1.0 if column.lower_is_better else -1.0
            distinct = sorted({round(sign * value, 6) for _, value in ranked})
            for i, value in ranked:
                position = distinct.index(round(sign * value, 6)) + 1
                if position <= 2 and position < len(distinct):
                    ranks[(i, column.key)] = position
        return ranks
