"""Plots of stored runs: per benchmark, quality against speed and forward passes with the Pareto front, and
category bars; the trend across a sweep's checkpoints.

`data` says what to plot (standard library only), `figures` draws it with matplotlib, an optional
dependency (`pip install 'diffa-eval[plots]'`). `report_figures` makes the HTML report's grid,
`write_benchmark_figures` a file per benchmark and format for a paper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from ...store import StoredRun
from ..render.html import Plot, PlotSection
from .data import (
    BenchmarkPlots,
    CategoryBars,
    QualityPanel,
    SpeedPoint,
    benchmark_plots,
    category_field,
    pareto_front,
)
from .figures import (
    benchmark_figure,
    close,
    figure_formats,
    panel_figures,
    plot_category_bars,
    plot_checkpoint_trend,
    plot_quality_vs_speed,
    save_figure,
    svg_markup,
)

log = logging.getLogger(__name__)

__all__ = [
    "BenchmarkPlots",
    "CategoryBars",
    "QualityPanel",
    "SpeedPoint",
    "benchmark_figure",
    "benchmark_plots",
    "category_field",
    "figure_formats",
    "panel_figures",
    "pareto_front",
    "plot_category_bars",
    "plot_checkpoint_trend",
    "plot_quality_vs_speed",
    "report_figures",
    "save_figure",
    "write_benchmark_figures",
]


def report_figures(
    runs: Sequence[StoredRun],
    *,
    benchmarks: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    partial: bool = False,
) -> list[PlotSection]:
    """The HTML report's plots: per benchmark of the leaderboard, a titled inline SVG per panel."""
    sections = []
    for number, plots in enumerate(benchmark_plots(runs, benchmarks=benchmarks, models=models, partial=partial)):
        figures = [
            Plot(title, svg_markup(figure, f"f{number}-{index}-"))
            for index, (title, figure) in enumerate(panel_figures(plots))
        ]
        if figures:
            sections.append(PlotSection(plots.title, figures))
    if not sections:
        log.warning("nothing to plot: no model other than a baseline has a value with its recorded time")
    return sections


def write_benchmark_figures(
    runs: Sequence[StoredRun],
    directory: Path,
    formats: Sequence[str] = ("pdf", "svg", "png"),
    *,
    benchmarks: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    partial: bool = False,
) -> list[Path]:
    """One figure per benchmark of the leaderboard, written as `<benchmark>[-<split>].<format>` for each
    format; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for plots in benchmark_plots(runs, benchmarks=benchmarks, models=models, partial=partial):
        figure = benchmark_figure(plots)
        if figure is None:
            continue
        for suffix in formats:
            path = directory / f"{plots.file_stem}.{suffix}"
            save_figure(figure, path)
            written.append(path)
        close(figure)
    return written
