"""Plots from stored runs (matplotlib): quality vs speed with the Pareto front, per-category bars, checkpoint trends.

matplotlib is an optional dependency (`pip install diffa-eval[plots]`); the data helpers (`speed_points`,
`pareto_front`) need only the standard library.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConfigError
from ..store import StoredRun
from .legacy import describe_run
from .select import choose_runs

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class SpeedPoint:
    """One run: its primary metric against its throughput and decoding cost."""

    label: str
    """Model and decoding mode, e.g. `diffa-2 steps=16`."""
    task: str
    metric: str
    value: float
    lower_is_better: bool
    samples_per_second: float
    forward_passes: float | None
    """Mean forward passes per sample, when the model reports them."""


def decoding_mode(run: StoredRun) -> str:
    """What sets a run apart: its variant's label (e.g. `threshold+dual-cache τ=0.9`), for a version-1 run
    its generation options (e.g. `steps=16 block_length=32`); `default` when nothing does."""
    if run.manifest.variant is not None:
        return run.manifest.variant.label or "default"
    options = run.manifest.generation.options
    return " ".join(f"{key}={value}" for key, value in sorted(options.items())) or "default"


def speed_points(runs: Sequence[StoredRun], task: str | None = None) -> list[SpeedPoint]:
    """A point per completed run (of `task`, when given) whose samples recorded their time."""
    points = []
    for run in runs:
        if run.metrics is None or (task is not None and run.manifest.task != task):
            continue
        value = run.metrics.metrics.get(run.metrics.primary_metric)
        records = [r for r in run.records() if r.seconds is not None and not r.failed]
        seconds = sum(r.seconds or 0.0 for r in records)
        if value is None or not records or seconds <= 0:
            continue
        passes = [r.forward_passes for r in records if r.forward_passes is not None]
        points.append(
            SpeedPoint(
                label=f"{run.manifest.model} {decoding_mode(run)}",
                task=run.manifest.task,
                metric=run.metrics.primary_metric,
                value=value.value,
                lower_is_better=value.lower_is_better,
                samples_per_second=len(records) / seconds,
                forward_passes=sum(passes) / len(passes) if passes else None,
            )
        )
    return points


def pareto_front(points: Sequence[SpeedPoint], by: str = "samples_per_second") -> list[SpeedPoint]:
    """The points no other point beats on both quality and cost, sorted by cost.

    `by` is `samples_per_second` (higher is better) or `forward_passes` (fewer is better); quality
    follows the metric's direction.
    """
    if by not in ("samples_per_second", "forward_passes"):
        raise ValueError(f"unknown cost axis {by!r}")

    def costs(point: SpeedPoint) -> tuple[float, float] | None:
        speed = point.samples_per_second if by == "samples_per_second" else point.forward_passes
        if speed is None:
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


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'diffa-eval[plots]'") from None
    return plt


def plot_quality_vs_speed(points: Sequence[SpeedPoint], by: str = "samples_per_second") -> Figure:
    """Quality against samples/s (log scale) or forward passes per sample; the Pareto front is drawn as a line."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    shown = [p for p in points if getattr(p, by) is not None]
    for point in shown:
        axes.scatter(getattr(point, by), point.value, s=36)
        axes.annotate(
            point.label, (getattr(point, by), point.value), fontsize=7, xytext=(4, 3), textcoords="offset points"
        )
    front = pareto_front(shown, by)
    if len(front) > 1:
        axes.plot([getattr(p, by) for p in front], [p.value for p in front], "k--", lw=1, label="Pareto front")
        axes.legend(fontsize=8)
    if by == "samples_per_second":
        axes.set_xscale("log")
    axes.set_xlabel("samples / s" if by == "samples_per_second" else "forward passes / sample")
    if shown:
        arrow = "↓" if shown[0].lower_is_better else "↑"
        axes.set_ylabel(f"{shown[0].task} {shown[0].metric} {arrow}")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return cast("Figure", figure)


def plot_category_bars(runs: Sequence[StoredRun], task: str, field: str) -> Figure:
    """Grouped bars: the primary metric per breakdown label (e.g. MMAU `task`), one bar per model."""
    plt = _pyplot()
    chosen = [r for r in runs if r.metrics is not None and r.manifest.task == task and field in r.metrics.breakdowns]
    labels = sorted({label for r in chosen if r.metrics for label in r.metrics.breakdowns[field]})
    figure, axes = plt.subplots(figsize=(max(4.0, 1.2 * len(labels) + 2), 3.8))
    width = 0.8 / max(1, len(chosen))
    for i, run in enumerate(chosen):
        assert run.metrics is not None
        metric = run.metrics.primary_metric
        values = [run.metrics.breakdowns[field].get(label, {}).get(metric) for label in labels]
        heights = [v.value if v is not None else 0.0 for v in values]
        positions = [j + i * width for j in range(len(labels))]
        mode = decoding_mode(run) if run.manifest.variant is not None else "default"
        axes.bar(positions, heights, width, label=run.manifest.model + ("" if mode == "default" else f" {mode}"))
    axes.set_xticks([j + width * (len(chosen) - 1) / 2 for j in range(len(labels))], labels, fontsize=8)
    axes.set_ylabel(f"{task} {chosen[0].metrics.primary_metric if chosen and chosen[0].metrics else ''}")
    axes.legend(fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return cast("Figure", figure)


def plot_checkpoint_trend(trend: Sequence[tuple[str, dict[str, float]]]) -> Figure:
    """One line per column across checkpoints, in the given order: (checkpoint, column -> value)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6.4, 4.0))
    columns = sorted({column for _, values in trend for column in values})
    names = [name for name, _ in trend]
    for column in columns:
        xs = [i for i, (_, values) in enumerate(trend) if column in values]
        axes.plot(xs, [trend[i][1][column] for i in xs], marker="o", label=column)
    axes.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return cast("Figure", figure)


def figure_formats() -> set[str]:
    """The file name suffixes (without the dot) that `save_figure` can write; needs matplotlib."""
    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    return set(FigureCanvasBase.get_supported_filetypes())


def save_figure(figure: Figure, path: str) -> None:
    """Write PNG or SVG, chosen by the file name."""
    figure.savefig(path, dpi=150)
    _pyplot().close(figure)


def svg_markup(figure: Figure) -> str:
    """The figure as inline SVG markup, for self-contained HTML."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    _pyplot().close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def png_markup(figure: Figure, alt: str) -> str:
    """The figure as an `<img>` with a base64 data URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    _pyplot().close(figure)
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def category_field(run: StoredRun) -> str | None:
    """The breakdown a task's per-category bars use: the one its leaderboard columns split by (e.g. MMAU's
    `task`), else its first breakdown field; None when the run describes no breakdown."""
    description = describe_run(run)
    if description is None:
        return None
    used = [c.breakdown[0] for c in description.benchmark.columns if c.breakdown and c.task == description.task]
    fields = used + list(description.breakdown_fields)
    return fields[0] if fields else None


def report_figures(runs: Sequence[StoredRun]) -> list[str]:
    """Inline SVG figures for the HTML report: quality vs speed per task, then per-category bars, of the
    runs the leaderboard shows (complete and full, one per row, task and split)."""
    shown = [item.run for item in choose_runs(runs)]
    figures = []
    for task in sorted({r.manifest.task for r in shown}):
        points = speed_points(shown, task)
        if points:
            figures.append(svg_markup(plot_quality_vs_speed(points)))
            if any(p.forward_passes is not None for p in points):
                figures.append(svg_markup(plot_quality_vs_speed(points, by="forward_passes")))
        of_task = [r for r in shown if r.manifest.task == task]
        field = category_field(of_task[0])
        if field and any(r.metrics and field in r.metrics.breakdowns for r in of_task):
            figures.append(svg_markup(plot_category_bars(of_task, task, field)))
    return figures
