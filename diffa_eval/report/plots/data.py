"""What the plots show, from the store alone (no matplotlib): per benchmark, each headline column's quality
against speed and decoding cost, the Pareto front, and the per-category values; the checkpoint trend.

Points are leaderboard rows (`table.build_table`): their labels, their runs and variants are the table's.
Baselines (models whose adapter says so, e.g. `chance` and `oracle`) are reference levels: they never
enter a Pareto front or a speed axis. Names are display names: the benchmark's title, the column's label
and the metric's title as the runs describe them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...store import StoredRun
from ..board import Column, GroupedTable, Row
from ..cost import RowCost
from ..legacy import describe_run
from ..table import build_table


@dataclass(frozen=True)
class SpeedPoint:
    """One leaderboard row on one column: its value against its throughput and decoding cost."""

    label: str
    """The row's name, e.g. `diffa-2 · threshold τ=0.9`."""
    task: str
    metric: str
    value: float
    lower_is_better: bool
    samples_per_second: float | None
    """Samples over model time, from the runs behind the value; None when they recorded no time."""
    forward_passes: float | None
    """Mean forward passes per sample, when the model reports them."""
    baseline: bool = False
    """A reference level (e.g. `chance`, `oracle`), drawn as a line, never on a cost axis or a front."""


SPEED_AXES = ("samples_per_second", "forward_passes")


def pareto_front(points: Sequence[SpeedPoint], by: str = "samples_per_second") -> list[SpeedPoint]:
    """The points that are not baselines and that no other such point beats on both quality and cost,
    sorted from the cheapest.

    `by` is `samples_per_second` (higher is better) or `forward_passes` (fewer is better); quality
    follows the metric's direction. Points without the cost are left out.
    """
    if by not in SPEED_AXES:
        raise ValueError(f"unknown cost axis {by!r}")

    def costs(point: SpeedPoint) -> tuple[float, float] | None:
        speed = point.samples_per_second if by == "samples_per_second" else point.forward_passes
        if speed is None or point.baseline:
            return None
        cost = -speed if by == "samples_per_second" else speed
        quality = point.value if point.lower_is_better else -point.value
        return cost, quality

    scored = [(point, c) for point in points if (c := costs(point)) is not None]
    front = [
        point
        for point, (cost, quality) in scored
        if not any(
            other_cost <= cost and other_quality <= quality and (other_cost, other_quality) != (cost, quality)
            for _, (other_cost, other_quality) in scored
        )
    ]
    return sorted(front, key=lambda p: costs(p) or (0.0, 0.0))


@dataclass(frozen=True)
class QualityPanel:
    """One headline column of a benchmark: its title, axis label and a point per row."""

    title: str
    """The column's label, e.g. `avg` or `clean`."""
    axis_label: str
    """e.g. `accuracy (%) ↑`."""
    points: tuple[SpeedPoint, ...]

    def has_speed(self, by: str) -> bool:
        """Whether a row that is not a baseline has this cost, so the panel is worth drawing."""
        return any(not p.baseline and getattr(p, by) is not None for p in self.points)


@dataclass(frozen=True)
class CategoryBars:
    """Values per category (e.g. MMAU's sound, music, speech), a series per row."""

    title: str
    axis_label: str
    categories: tuple[str, ...]
    series: tuple[tuple[str, bool, tuple[float | None, ...]], ...]
    """(row name, is a baseline, a value per category)."""


@dataclass(frozen=True)
class BenchmarkPlots:
    """Everything plotted for one column group of the leaderboard (a benchmark on one split)."""

    benchmark: str
    split: str
    title: str
    quality: tuple[QualityPanel, ...]
    bars: CategoryBars | None

    @property
    def file_stem(self) -> str:
        """A file name for the benchmark's figure: its id, plus the split when it is not `test`."""
        return self.benchmark if self.split == "test" else f"{self.benchmark}-{self.split}"


def is_baseline(run: StoredRun) -> bool:
    """Whether the run's model is a reference level rather than a model under study (its adapter says so)."""
    return run.manifest.model_info.get("kind") == "baseline"


def metric_titles(runs: Sequence[StoredRun]) -> dict[tuple[str, str], str]:
    """(task, metric) -> the metric's display title, as the runs describe their metrics."""
    titles: dict[tuple[str, str], str] = {}
    for run in runs:
        description = describe_run(run)
        if description is None:
            continue
        for metric in description.metrics:
            titles.setdefault((description.task, metric.name), metric.title or metric.name)
    return titles


def axis_label(column: Column, titles: Mapping[tuple[str, str], str]) -> str:
    """The column's quantity for an axis, e.g. `accuracy (%) ↑` or `WER (%) ↓`."""
    key = (column.spec.task, column.spec.metric)
    title = f"{column.spec.label} score" if column.spec.group_score else titles.get(key, column.spec.metric)
    unit = f" ({column.unit})" if column.unit else ""
    return f"{title}{unit} {'↓' if column.lower_is_better else '↑'}"


def _row_runs(row: Row, columns: Sequence[Column], by_directory: Mapping[str, StoredRun]) -> list[StoredRun]:
    """The runs behind the row's cells in `columns` (a group score's cell names none; its inputs' cells do)."""
    sources = dict.fromkeys(cell.source for c in columns if (cell := row.cells.get(c.key)) is not None)
    return [by_directory[source] for source in sources if source in by_directory]


def _headline(table: GroupedTable, columns: Sequence[Column]) -> list[Column]:
    """The columns a benchmark is judged by: its group score when some row has one (e.g. VoiceBench's
    overall), else each task's overall column (no breakdown)."""
    filled = [c for c in columns if any(c.key in row.cells for row in table.rows if row.kind == "measured")]
    scores = [c for c in filled if c.spec.group_score]
    return scores or [c for c in filled if c.spec.breakdown is None and not c.spec.group_score]


def _bars(
    table: GroupedTable,
    columns: Sequence[Column],
    by_directory: Mapping[str, StoredRun],
    titles: Mapping[tuple[str, str], str],
) -> CategoryBars | None:
    """The benchmark's breakdown columns as bars (e.g. MMAU's sound, music, speech); for a one-task benchmark
    without them, the first breakdown of its runs' metrics (e.g. MMAR by modality)."""
    rows = [row for row in table.rows if row.kind == "measured"]
    by_category = [c for c in columns if c.spec.breakdown is not None]
    if by_category:
        series = tuple(
            (row.name, _baseline_row(row, columns, by_directory), tuple(_value(row, c) for c in by_category))
            for row in rows
            if any(c.key in row.cells for c in by_category)
        )
        labels = tuple(c.spec.label for c in by_category)
        return CategoryBars("by category", axis_label(by_category[0], titles), labels, series)
    overall = [c for c in columns if c.spec.breakdown is None and not c.spec.group_score]
    if len({c.spec.task for c in overall}) != 1:
        return None
    row_runs = [(row, run) for row in rows for run in _row_runs(row, overall[:1], by_directory)]
    field = next((f for _, run in row_runs if (f := category_field(run))), None)
    if field is None:
        return None
    breakdowns = [(row, run, run.metrics.breakdowns.get(field, {})) for row, run in row_runs if run.metrics]
    labels = tuple(sorted({label for _, _, breakdown in breakdowns for label in breakdown}))
    if not labels:
        return None
    per_row = []
    for row, run, breakdown in breakdowns:
        primary = run.metrics.primary_metric if run.metrics else ""
        values = tuple(v.value if (v := breakdown.get(label, {}).get(primary)) else None for label in labels)
        per_row.append((row.name, is_baseline(run), values))
    return CategoryBars(f"by {field}", axis_label(overall[0], titles), labels, tuple(per_row))


def _value(row: Row, column: Column) -> float | None:
    cell = row.cells.get(column.key)
    return None if cell is None else cell.value


def _baseline_row(row: Row, columns: Sequence[Column], by_directory: Mapping[str, StoredRun]) -> bool:
    runs = _row_runs(row, columns, by_directory)
    return bool(runs) and all(is_baseline(run) for run in runs)


def category_field(run: StoredRun) -> str | None:
    """The breakdown a task's category bars use: the one its leaderboard columns split by (e.g. MMAU's
    `task`), else its first breakdown field; None when the run describes no breakdown."""
    description = describe_run(run)
    if description is None:
        return None
    used = [c.breakdown[0] for c in description.benchmark.columns if c.breakdown and c.task == description.task]
    fields = used + list(description.breakdown_fields)
    return fields[0] if fields else None


def benchmark_plots(
    runs: Sequence[StoredRun],
    *,
    benchmarks: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    partial: bool = False,
) -> list[BenchmarkPlots]:
    """What to plot for each column group of the leaderboard `build_table` makes of `runs` (same choice of
    benchmarks, rows and runs), in the table's order."""
    table = build_table(runs, benchmarks=benchmarks, models=models, partial=partial)
    by_directory = {str(run.directory): run for run in runs}
    titles = metric_titles(runs)
    plots = []
    for title, columns in table.groups():
        panels = tuple(
            QualityPanel(column.spec.label, axis_label(column, titles), _points(table, column, columns, by_directory))
            for column in _headline(table, columns)
        )
        bars = _bars(table, columns, by_directory, titles)
        plots.append(BenchmarkPlots(columns[0].benchmark, columns[0].split, title, panels, bars))
    return plots


def _points(
    table: GroupedTable, column: Column, group: Sequence[Column], by_directory: Mapping[str, StoredRun]
) -> tuple[SpeedPoint, ...]:
    """A point per measured row with a value in `column`, its cost over the runs behind that value (for a
    group score, the row's runs of the whole group)."""
    points = []
    for row in table.rows:
        cell = row.cells.get(column.key)
        if row.kind != "measured" or cell is None:
            continue
        behind = _row_runs(row, [column] if cell.source else group, by_directory)
        cost = RowCost.of(behind)
        baseline = bool(behind) and all(is_baseline(run) for run in behind)
        points.append(
            SpeedPoint(
                row.name, column.spec.task, column.spec.metric, cell.value, column.lower_is_better,
                cost.samples_per_second, cost.passes_per_sample, baseline,
            )
        )  # fmt: skip
    return tuple(points)
