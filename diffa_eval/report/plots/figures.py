"""Drawing the plots with matplotlib: quality against speed with the Pareto front, category bars, trends.

Every panel has a title and axis labels in display names; point labels are placed where they overlap
neither each other nor the points (`labels`, with a leader line when they must move away); legends sit outside
the data, below the panels; baselines are horizontal reference lines. A benchmark's panels make one
figure (`benchmark_figure`, for papers: PDF, SVG or PNG), or one figure each (`panel_figures`, for the
HTML report's grid).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ...errors import ConfigError
from .data import BenchmarkPlots, CategoryBars, QualityPanel, SpeedPoint, pareto_front
from .labels import BASELINE_COLOR, PendingLabels, place_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..sweep import Trend

_COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f",
)  # fmt: skip
_BASELINE_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)))
_AXIS_TITLES = {"samples_per_second": "samples / s (model time)", "forward_passes": "forward passes / sample"}
_PANEL_TITLES = {"samples_per_second": "quality vs speed", "forward_passes": "quality vs forward passes"}
_PANEL_SIZE = (4.6, 3.5)
"""Inches of one panel of a paper figure."""
_GRID_PANEL_SIZE = (4.0, 3.1)
"""Inches of a figure in the HTML report's grid (about 400 pixels wide there, so its text stays legible)."""


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'diffa-eval[plots]'") from None
    return plt


def _figure(
    rows: int, columns: int, size: tuple[float, float] = _PANEL_SIZE, sharex: bool = False
) -> tuple[Figure, list[Axes]]:
    plt = _pyplot()
    figure, grid = plt.subplots(
        rows, columns, figsize=(size[0] * columns, size[1] * rows + 0.6), layout="constrained", squeeze=False,
        sharex=sharex,
    )  # fmt: skip
    return cast("Figure", figure), [axes for line in grid for axes in line]


def row_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per row name, stable across a figure's panels (the names in table order)."""
    return {name: _COLORS[i % len(_COLORS)] for i, name in enumerate(dict.fromkeys(names))}


def _baseline_styles(names: Sequence[str]) -> dict[str, Any]:
    return {name: _BASELINE_STYLES[i % len(_BASELINE_STYLES)] for i, name in enumerate(dict.fromkeys(names))}


def _number(value: float, _: object = None) -> str:
    return f"{value:g}"


def draw_quality(
    axes: Axes, panel: QualityPanel, by: str, colors: dict[str, str], baselines: dict[str, Any], title: bool = True
) -> PendingLabels:
    """Quality against `by` (samples/s or forward passes per sample): a point per row that is not a baseline,
    the Pareto front, baselines as horizontal lines; returns the point labels to place."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    shown = [p for p in panel.points if not p.baseline and getattr(p, by) is not None]
    for point in shown:
        axes.scatter(getattr(point, by), point.value, s=42, color=colors[point.label], zorder=3, edgecolors="white")
    front = pareto_front(shown, by)
    lines = [[(float(getattr(p, by)), p.value) for p in front]] if len(front) > 1 else []
    if len(front) > 1:
        axes.plot(
            [getattr(p, by) for p in front], [p.value for p in front], ls="--", lw=1.1, color="#333333", zorder=2,
            label="Pareto front",
        )  # fmt: skip
    xs = [float(getattr(p, by)) for p in shown]
    if xs and min(xs) > 0 and max(xs) / min(xs) >= 10:
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes.xaxis.set_major_formatter(FuncFormatter(_number))
        axes.xaxis.set_minor_formatter(NullFormatter())
    axes.margins(x=0.18, y=0.15)
    levels: dict[float, list[str]] = {}
    for point in panel.points:
        if point.baseline:
            axes.axhline(point.value, color=BASELINE_COLOR, lw=1, ls=baselines[point.label], zorder=1)
            levels.setdefault(round(point.value, 9), []).append(point.label)
    axes.set_xlabel(_AXIS_TITLES[by])
    axes.set_ylabel(panel.axis_label)
    if title:
        axes.set_title(f"{panel.title}: {_PANEL_TITLES[by]}", fontsize=10)
    axes.grid(alpha=0.25)
    # a variant's settings go on a second line, as in the HTML table, so labels stay short
    entries = [(float(getattr(p, by)), p.value, p.label.replace(" · ", "\n", 1), colors[p.label]) for p in shown]
    return PendingLabels(axes, entries, [(value, ", ".join(names)) for value, names in levels.items()], lines)


def draw_bars(
    axes: Axes, bars: CategoryBars, colors: dict[str, str], baselines: dict[str, Any], title: bool = True
) -> None:
    """Grouped bars, one per row that is not a baseline, per category; baselines as a line across each group."""
    models = [(name, values) for name, baseline, values in bars.series if not baseline]
    width = 0.8 / max(1, len(models))
    for i, (name, values) in enumerate(models):
        positions = [j - 0.4 + width * (i + 0.5) for j, value in enumerate(values) if value is not None]
        heights = [value for value in values if value is not None]
        # an edge in the bar's colour keeps a bar of height 0 visible, unlike a missing one
        axes.bar(
            positions, heights, width * 0.92, color=colors[name], edgecolor=colors[name], lw=0.8, label=name, zorder=2
        )
    for name, baseline, values in bars.series:
        if not baseline:
            continue
        for j, value in enumerate(values):
            if value is not None:
                axes.hlines(
                    value, j - 0.45, j + 0.45, colors=BASELINE_COLOR, linestyles=baselines[name], lw=1.3, zorder=3,
                    label=name if j == 0 else "_nolegend_",
                )  # fmt: skip
    long_labels = max(map(len, bars.categories), default=0) * len(bars.categories) > 36  # would run into each other
    axes.set_xticks(
        range(len(bars.categories)), bars.categories, rotation=25 if long_labels else 0,
        ha="right" if long_labels else "center", fontsize=8,
    )  # fmt: skip
    axes.set_ylabel(bars.axis_label)
    axes.set_xlim(-0.6, len(bars.categories) - 0.4)
    axes.grid(axis="y", alpha=0.25, zorder=0)
    if title:
        axes.set_title(bars.title, fontsize=10)


def _legend_below(figure: Figure, axes: Sequence[Axes]) -> None:
    """One legend for the figure, below its panels: every labelled line and bar, each name once, in as many
    columns as fit the figure's width."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if not seen:
        return
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    width = figure.get_window_extent(renderer).width
    for columns in range(min(5, len(seen)), 0, -1):
        legend = figure.legend(
            list(seen.values()), list(seen), loc="outside lower center", ncol=columns, fontsize=8, frameon=False
        )
        if columns == 1 or legend.get_window_extent(renderer).width <= 0.98 * width:
            return
        legend.remove()


def _finish(figure: Figure, axes: Sequence[Axes], pending: Sequence[PendingLabels]) -> Figure:
    """Legend, final layout, then point labels on that layout (which is then kept as it is)."""
    _legend_below(figure, axes)
    figure.canvas.draw()
    figure.set_layout_engine("none")
    place_labels(figure, pending)
    return figure


@dataclass(frozen=True)
class _Panel:
    """One panel of a benchmark: quality against a cost axis, or the category bars."""

    title: str
    colors: dict[str, str]
    styles: dict[str, Any]
    quality: QualityPanel | None = None
    by: str = ""
    bars: CategoryBars | None = None

    def draw(self, axes: Axes, title: bool) -> PendingLabels | None:
        if self.quality is not None:
            return draw_quality(axes, self.quality, self.by, self.colors, self.styles, title)
        if self.bars is not None:
            draw_bars(axes, self.bars, self.colors, self.styles, title)
        return None


def _panels(plots: BenchmarkPlots) -> list[list[_Panel]]:
    """Each panel of a benchmark, in rows: per headline column, quality vs speed and vs forward passes
    (where a row that is not a baseline has them); then the category bars."""
    series = plots.bars.series if plots.bars else ()
    names = [p.label for panel in plots.quality for p in panel.points if not p.baseline]
    colors = row_colors(names + [name for name, baseline, _ in series if not baseline])
    baseline_names = [p.label for panel in plots.quality for p in panel.points if p.baseline]
    styles = _baseline_styles(baseline_names + [name for name, baseline, _ in series if baseline])
    rows = [
        [
            _Panel(f"{panel.title}: {_PANEL_TITLES[by]}", colors, styles, quality=panel, by=by)
            for by in ("samples_per_second", "forward_passes")
            if panel.has_speed(by)
        ]
        for panel in plots.quality
    ]
    rows = [row for row in rows if row]
    if plots.bars is not None and any(not baseline for _, baseline, _ in series):
        rows.append([_Panel(plots.bars.title, colors, styles, bars=plots.bars)])
    return rows


def benchmark_figure(plots: BenchmarkPlots) -> Figure | None:
    """Every panel of one benchmark in one figure titled with the benchmark, for a paper; None when there is
    nothing to draw (only baselines, no recorded times). One headline column: its panels and the bars in a
    row; several: a row per headline column, the bars below."""
    rows = _panels(plots)
    if not rows:
        return None
    if len(rows) <= 2 and sum(len(row) for row in rows) <= 3:
        rows = [[panel for row in rows for panel in row]]
    columns = max(len(row) for row in rows)
    figure, axes = _figure(len(rows), columns)
    pending = []
    used = []
    for r, row in enumerate(rows):
        for c in range(columns):
            ax = axes[r * columns + c]
            if c >= len(row):
                ax.set_visible(False)
                continue
            used.append(ax)
            if (labels := row[c].draw(ax, True)) is not None:
                pending.append(labels)
    figure.suptitle(plots.title, fontsize=12, fontweight="bold")
    return _finish(figure, used, pending)


def panel_figures(plots: BenchmarkPlots) -> list[tuple[str, Figure]]:
    """Each panel of one benchmark as a figure of its own, with its title beside it (for the HTML grid)."""
    figures = []
    for panel in (panel for row in _panels(plots) for panel in row):
        figure, (axes,) = _figure(1, 1, size=_GRID_PANEL_SIZE)
        labels = panel.draw(axes, False)
        figures.append((panel.title, _finish(figure, [axes], [labels] if labels else [])))
    return figures


def plot_quality_vs_speed(
    points: Sequence[SpeedPoint], by: str = "samples_per_second", title: str = "", axis_label: str = ""
) -> Figure:
    """One panel: quality against samples/s or forward passes per sample, Pareto front, baselines as lines."""
    panel = QualityPanel(title, axis_label or (points[0].metric if points else ""), tuple(points))
    colors = row_colors([p.label for p in points if not p.baseline])
    figure, (axes,) = _figure(1, 1)
    labels = draw_quality(
        axes, panel, by, colors, _baseline_styles([p.label for p in points if p.baseline]), bool(title)
    )
    return _finish(figure, [axes], [labels])


def plot_category_bars(bars: CategoryBars) -> Figure:
    """One panel of grouped bars per category, its legend below."""
    colors = row_colors([name for name, baseline, _ in bars.series if not baseline])
    figure, (axes,) = _figure(1, 1)
    draw_bars(axes, bars, colors, _baseline_styles([name for name, baseline, _ in bars.series if baseline]))
    return _finish(figure, [axes], [])


def plot_checkpoint_trend(trend: Trend) -> Figure:
    """A panel per column group and unit, a line per column across checkpoints; legends beside the panels."""
    panels: dict[tuple[str, str], list[Any]] = {}
    for column in trend.columns:
        panels.setdefault((column.group_title, column.unit), []).append(column)
    figure, axes_list = _figure(max(1, len(panels)), 1, size=(7.6, 2.5), sharex=True)
    positions = range(len(trend.points))
    for axes, ((group, unit), columns) in zip(axes_list, panels.items(), strict=False):
        for i, column in enumerate(columns):
            xs = [x for x in positions if column.key in trend.values[x]]
            axes.plot(
                xs, [trend.values[x][column.key] for x in xs], marker="o", ms=4, color=_COLORS[i % len(_COLORS)],
                label=f"{column.spec.label} {'↓' if column.lower_is_better else '↑'}",
            )  # fmt: skip
        labels = {trend.axis_labels[column.key] for column in columns}
        axes.set_ylabel(labels.pop() if len(labels) == 1 else f"score ({unit})" if unit else "score")
        axes.set_title(group, fontsize=10)
        axes.grid(alpha=0.25)
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False, fontsize=8)
    bottom = axes_list[-1]  # the panels share the checkpoints, named once below the last
    bottom.set_xticks(list(positions), list(trend.points), rotation=25, ha="right", fontsize=8)
    bottom.set_xlabel("checkpoint")
    figure.suptitle("Across checkpoints", fontsize=12, fontweight="bold")
    return figure


def figure_formats() -> set[str]:
    """The file name suffixes (without the dot) that `save_figure` can write; needs matplotlib."""
    _pyplot()
    from matplotlib.backend_bases import FigureCanvasBase

    return set(FigureCanvasBase.get_supported_filetypes())


def save_figure(figure: Figure, path: str | Path) -> None:
    """Write the figure in the format its file name says (PDF, SVG, PNG...); fonts are embedded as TrueType
    in PDF and PostScript, as publishers ask."""
    import matplotlib

    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        figure.savefig(path, dpi=200)


def close(figure: Figure) -> None:
    _pyplot().close(figure)


def svg_markup(figure: Figure, prefix: str) -> str:
    """The figure as inline SVG markup whose element ids start with `prefix`, so that several figures in
    one page never refer to each other's clip paths or glyphs."""
    import io

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    return re.sub(r'(id="|url\(#|href="#)', lambda m: m.group(1) + prefix, text)
