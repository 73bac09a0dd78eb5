"""Drawing the plots with matplotlib: quality against speed with the Pareto front, category bars, trends.

Every panel has a title and axis labels in display names; point labels are placed where they overlap
neither each other nor the points (with a leader line when they must move away); legends sit outside
the data, below the panels; baselines are horizontal reference lines. A benchmark's panels make one
figure (`benchmark_figure`, for papers: PDF, SVG or PNG), or one figure each (`panel_figures`, for the
HTML report's grid).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ...errors import ConfigError
from .data import BenchmarkPlots, CategoryBars, QualityPanel, SpeedPoint, pareto_front

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..sweep import Trend

_COLORS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#7f7f7f",
)  # fmt: skip
_BASELINE_COLOR = "#555555"
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


@dataclass
class _Labels:
    """Point labels waiting to be placed once the figure's layout is final."""

    axes: Axes
    entries: list[tuple[float, float, str, str]]
    """(x, y, text, colour) per point."""
    captions: list[tuple[float, str]]
    """(y, text) of each baseline line, captioned at one end of the line."""
    lines: list[list[tuple[float, float]]]
    """Lines in data coordinates (the Pareto front) that labels should not cross."""


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
) -> _Labels:
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
            axes.axhline(point.value, color=_BASELINE_COLOR, lw=1, ls=baselines[point.label], zorder=1)
            levels.setdefault(round(point.value, 9), []).append(point.label)
    axes.set_xlabel(_AXIS_TITLES[by])
    axes.set_ylabel(panel.axis_label)
    if title:
        axes.set_title(f"{panel.title}: {_PANEL_TITLES[by]}", fontsize=10)
    axes.grid(alpha=0.25)
    # a variant's settings go on a second line, as in the HTML table, so labels stay short
    entries = [(float(getattr(p, by)), p.value, p.label.replace(" · ", "\n", 1), colors[p.label]) for p in shown]
    return _Labels(axes, entries, [(value, ", ".join(names)) for value, names in levels.items()], lines)


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
                    value, j - 0.45, j + 0.45, colors=_BASELINE_COLOR, linestyles=baselines[name], lw=1.3, zorder=3,
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


def _rect_overlap(a: Any, b: Any) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0


_OFFSETS = tuple(
    (radius, radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle)))
    for radius in (6.0, 13.0, 22.0, 34.0, 48.0)
    for angle in (0, 180, 90, -90, 35, 145, -35, -145)
)
"""Where a point's label may go, nearest first: (distance, dx, dy) in points."""


class _Placer:
    """Places texts in one axes, each where it covers the least of what is there already (points, lines,
    earlier texts) and of the outside of the axes; the first candidate that covers nothing wins."""

    def __init__(self, axes: Axes, renderer: Any, pending: _Labels) -> None:
        from matplotlib.transforms import Bbox

        self.axes = axes
        self.renderer = renderer
        self.frame = axes.get_window_extent(renderer)
        self.pad = axes.figure.dpi / 72 * 4.5  # a marker's half width, in pixels
        self.points = [axes.transData.transform((x, y)) for x, y, _, _ in pending.entries]
        self.taken = [Bbox.from_extents(x - self.pad, y - self.pad, x + self.pad, y + self.pad) for x, y in self.points]
        for line in pending.lines:  # a line is a row of small boxes
            ends = [axes.transData.transform(point) for point in line]
            for (x0, y0), (x1, y1) in itertools.pairwise(ends):
                for t in (i / 24 for i in range(25)):
                    x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                    self.taken.append(Bbox.from_extents(x - 1, y - 1, x + 1, y + 1))

    def extent(self, artist: Any) -> Any:
        """The text alone (an annotation's own extent spans its leader line too), with room for its backdrop."""
        from matplotlib.text import Annotation, Text

        if isinstance(artist, Annotation):
            artist.update_positions(self.renderer)
        return Text.get_window_extent(artist, self.renderer).padded(2.0)

    def cost(self, artist: Any, ignored: Collection[int]) -> float:
        from matplotlib.transforms import Bbox

        box = self.extent(artist)
        inside = Bbox.intersection(box, self.frame)
        outside = box.width * box.height - (inside.width * inside.height if inside else 0.0)
        covered = sum(_rect_overlap(box, other) for i, other in enumerate(self.taken) if i not in ignored)
        return float(3 * outside + covered)

    def keep_best(self, candidates: Iterator[Any], ignored: Collection[int] = ()) -> None:
        """Draw candidates one at a time, keep the cheapest (stopping at one that covers nothing)."""
        best: tuple[float, Any] | None = None
        for artist in candidates:
            artist.set_in_layout(False)
            score = self.cost(artist, ignored)
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, artist)
            else:
                artist.remove()
            if score == 0:
                break
        if best is not None:
            self.taken.append(self.extent(best[1]))

    def captions(self, y: float, text: str) -> Iterator[Any]:
        """A baseline's caption at either end of its line, above or below it."""
        from matplotlib.transforms import blended_transform_factory

        across = blended_transform_factory(self.axes.transAxes, self.axes.transData)
        for x in (0.995, 0.005):
            for va in ("bottom", "top"):
                yield self.axes.text(
                    x, y, f" {text} ", transform=across, ha="right" if x > 0.5 else "left", va=va, fontsize=7.5,
                    color=_BASELINE_COLOR, zorder=4,
                )  # fmt: skip

    def labels(self, x: float, y: float, text: str, color: str) -> Iterator[Any]:
        """A point's label around it, nearest first; away from the point, with a leader line."""
        for radius, dx, dy in _OFFSETS:
            yield self.axes.annotate(
                text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7.5, color=color,
                ha="left" if dx > 1 else "right" if dx < -1 else "center",
                va="bottom" if dy > 1 else "top" if dy < -1 else "center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                arrowprops={"arrowstyle": "-", "color": color, "lw": 0.6, "shrinkA": 0, "shrinkB": 3.5}
                if radius > 6 else None,
                annotation_clip=False, zorder=5,
            )  # fmt: skip

    def same_place(self, index: int) -> set[int]:
        """The point and those drawn where it is (their markers hide each other anyway)."""
        x0, y0 = self.points[index]
        return {i for i, (x, y) in enumerate(self.points) if abs(x - x0) < self.pad and abs(y - y0) < self.pad}


def _place_labels(figure: Figure, pending: Sequence[_Labels]) -> None:
    """Caption each baseline at one end of its line, then label each point, highest first, each where it
    covers no other text, point or line and stays inside its axes. Needs the final layout (drawn first)."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    for group in pending:
        placer = _Placer(group.axes, renderer, group)
        for y, text in group.captions:
            placer.keep_best(placer.captions(y, text))
        order = sorted(range(len(group.entries)), key=lambda i: (-group.entries[i][1], group.entries[i][0]))
        for index in order:
            x, y, text, color = group.entries[index]
            placer.keep_best(placer.labels(x, y, text, color), ignored=placer.same_place(index))


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


def _finish(figure: Figure, axes: Sequence[Axes], pending: Sequence[_Labels]) -> Figure:
    """Legend, final layout, then point labels on that layout (which is then kept as it is)."""
    _legend_below(figure, axes)
    figure.canvas.draw()
    figure.set_layout_engine("none")
    _place_labels(figure, pending)
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

    def draw(self, axes: Axes, title: bool) -> _Labels | None:
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
