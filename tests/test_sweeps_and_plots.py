"""Checkpoint sweeps and plots: the Pareto front without baselines, one titled figure per benchmark with labels
that avoid each other and legends outside the data, PDF/SVG/PNG files for papers, the trend across checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.text import Annotation, Text
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.report.plots import (
    SpeedPoint,
    benchmark_figure,
    benchmark_plots,
    pareto_front,
    plot_checkpoint_trend,
    plot_quality_vs_speed,
    save_figure,
)
from diffa_eval.report.sweep import checkpoint_trend, expand_checkpoints
from diffa_eval.store import find_runs

from .stored_runs import SUITE_TASKS, suite_runs, write_run_v2

runner = CliRunner()


def _point(label: str, value: float, speed: float, passes: float | None = None) -> SpeedPoint:
    return SpeedPoint(label, "mmau_test_mini", "accuracy", value, False, speed, passes)


def test_checkpoint_globs_expand_in_natural_order(tmp_path: Path) -> None:
    for step in (100, 20, 3):
        (tmp_path / f"checkpoint-{step}").mkdir()
    specs = expand_checkpoints(f"diffa-2@{tmp_path}/checkpoint-*")
    assert [Path(s.checkpoint or "").name for s in specs] == ["checkpoint-3", "checkpoint-20", "checkpoint-100"]
    assert {s.name for s in specs} == {"diffa-2"}
    assert [str(s) for s in expand_checkpoints("oracle")] == ["oracle"]


def test_the_pareto_front_keeps_only_undominated_runs() -> None:
    points = [
        _point("slow-best", 70.0, 1.0, 256),
        _point("fast-worse", 60.0, 8.0, 32),
        _point("dominated", 55.0, 4.0, 64),
        _point("middle", 65.0, 4.0, 64),
    ]
    assert [p.label for p in pareto_front(points)] == ["fast-worse", "middle", "slow-best"]
    assert [p.label for p in pareto_front(points, by="forward_passes")] == ["fast-worse", "middle", "slow-best"]
    lower = [SpeedPoint("a", "t", "wer", 5.0, True, 1.0, None), SpeedPoint("b", "t", "wer", 9.0, True, 0.5, None)]
    assert [p.label for p in pareto_front(lower)] == ["a"]


def test_the_sweep_command_evaluates_every_checkpoint_and_plots_the_trend(
    tmp_path: Path, recording_model: tuple[str, list[list[str]], set[str]]
) -> None:
    for step in (10, 2):
        (tmp_path / "ckpt" / f"checkpoint-{step}").mkdir(parents=True)
    result = runner.invoke(
        app,
        [
            "sweep", "-m", f"recording@{tmp_path}/ckpt/checkpoint-*", "-t", "mmau_test_mini", "--split", "sample",
            "--output-dir", str(tmp_path / "runs"), "--plot", str(tmp_path / "trend.svg"),
            "--markdown", str(tmp_path / "trend.md"), "-q",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [line.split(" | ")[0] for line in (tmp_path / "trend.md").read_text().splitlines()[2:4]]
    assert rows == [f"| recording@{tmp_path}/ckpt/checkpoint-2", f"| recording@{tmp_path}/ckpt/checkpoint-10"]
    assert "checkpoint-10" in (tmp_path / "trend.svg").read_text()


def test_the_sweep_command_passes_the_run_settings_on(
    tmp_path: Path, recording_model: tuple[str, list[list[str]], set[str]]
) -> None:
    import json

    (tmp_path / "ckpt" / "checkpoint-1").mkdir(parents=True)
    args = [
        "sweep", "-m", f"recording@{tmp_path}/ckpt/checkpoint-*", "-t", "mmsu", "--split", "sample",
        "--output-dir", str(tmp_path / "runs"), "--prompt", "official-2025", "--data-dir", str(tmp_path), "-q",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads(next((tmp_path / "runs").rglob("manifest.json")).read_text())
    assert manifest["prompt_variant"] == "official-2025"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return suite_runs(tmp_path_factory.mktemp("suite"))


def _texts(figure: object) -> list[str]:
    """Every text a reader sees in a figure: titles, axis labels, ticks, point labels, captions, legends."""
    return [t.get_text() for t in figure.findobj(Text) if t.get_visible() and t.get_text()]  # type: ignore[attr-defined]


def _extent(text: Text, renderer: object) -> object:
    if isinstance(text, Annotation):
        text.update_positions(renderer)
    return Text.get_window_extent(text, renderer)


def test_baselines_never_enter_a_pareto_front() -> None:
    points = [
        _point("model", 60.0, 2.0, 64),
        SpeedPoint("chance", "t", "accuracy", 25.0, False, 1e5, 0, baseline=True),
        SpeedPoint("oracle", "t", "accuracy", 100.0, False, 5e5, 0, baseline=True),
    ]
    assert [p.label for p in pareto_front(points)] == ["model"]
    assert [p.label for p in pareto_front(points, by="forward_passes")] == ["model"]


def test_each_benchmark_is_plotted_under_its_display_names(suite: Path) -> None:
    plots = benchmark_plots(find_runs([suite]))
    assert [(p.title, p.file_stem) for p in plots] == [
        ("MMAU test-mini (sample)", "mmau_test_mini-sample"), ("MMSU (sample)", "mmsu-sample"),
        ("MMAR (sample)", "mmar-sample"), ("VoiceBench (sample)", "voicebench-sample"),
        ("LibriSpeech WER (sample)", "librispeech-sample"),
    ]  # fmt: skip
    mmau, _, mmar, voicebench, librispeech = plots
    assert [(p.title, p.axis_label) for p in mmau.quality] == [("avg", "accuracy (%) ↑")]
    assert [p.title for p in voicebench.quality] == ["overall"]  # the group score, not nine panels
    assert [p.title for p in librispeech.quality] == ["clean", "other"]
    assert librispeech.quality[0].axis_label.endswith("(%) ↓")
    assert mmau.bars is not None and mmau.bars.categories == ("sound", "music", "speech")
    assert mmar.bars is not None and mmar.bars.title == "by modality" and "sound-speech" in mmar.bars.categories
    chance = next(p for p in mmau.quality[0].points if p.label == "chance")
    assert chance.baseline and chance.samples_per_second == pytest.approx(1e5)


def test_a_benchmark_figure_has_titles_and_no_task_ids(suite: Path) -> None:
    for plots in benchmark_plots(find_runs([suite])):
        figure = benchmark_figure(plots)
        assert figure is not None
        texts = _texts(figure)
        assert plots.title in texts  # the figure's title
        assert all(ax.get_title() for ax in figure.axes if ax.get_visible())
        assert all(ax.get_xlabel() or ax.get_xticklabels() for ax in figure.axes if ax.get_visible())
        assert all(ax.get_ylabel() for ax in figure.axes if ax.get_visible())
        assert not [text for text in texts for task in SUITE_TASKS if task in text]


def test_baselines_are_reference_lines_off_every_speed_axis(suite: Path) -> None:
    mmau = benchmark_plots(find_runs([suite]))[0]
    figure = benchmark_figure(mmau)
    assert figure is not None
    speed, passes, _ = [ax for ax in figure.axes if ax.get_visible()]
    assert speed.get_xlim()[1] < 10 and speed.get_xscale() == "linear"  # chance's 1e5 samples/s is not on it
    assert passes.get_xlim()[0] > 0  # nor its 0 forward passes
    values = {p.label: p.value for p in mmau.quality[0].points if p.baseline}
    flat = {line.get_ydata()[0] for line in speed.get_lines() if len(set(line.get_ydata())) == 1}
    assert set(values.values()) <= flat
    assert {"chance", "oracle"} <= set(_texts(figure))  # captioned on the lines


def test_point_labels_cover_neither_each_other_nor_the_points_and_stay_in_their_axes() -> None:
    modes = ["exact", "threshold τ=0.9", "threshold τ=0.7", "factor f=1", "prefix-cache", "dual-cache"]
    points = [
        _point(f"diffa-2 · {mode}", 60.0 + 0.4 * i, 1.0 + 0.15 * i, 64 - 2 * i) for i, mode in enumerate(modes)
    ] + [_point("qwen2-audio", 60.2, 1.3, 30)]
    figure = plot_quality_vs_speed(points, title="MMAU test-mini · avg", axis_label="accuracy (%) ↑")
    (axes,) = figure.axes
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    labels = [t for t in axes.texts if isinstance(t, Annotation)]
    assert len(labels) == len(points)
    boxes = [_extent(label, renderer) for label in labels]
    frame = axes.get_window_extent(renderer)
    for i, box in enumerate(boxes):
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
        assert not any(box.overlaps(other) for other in boxes[i + 1 :])
        for point in points:
            x, y = axes.transData.transform((point.samples_per_second, point.value))
            assert not (box.x0 < x < box.x1 and box.y0 < y < box.y1), labels[i].get_text()


def test_legends_sit_outside_the_panels(suite: Path) -> None:
    figure = benchmark_figure(benchmark_plots(find_runs([suite]))[0])
    assert figure is not None
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    (legend,) = figure.legends
    box = legend.get_window_extent(renderer)
    assert all(not box.overlaps(ax.get_window_extent(renderer)) for ax in figure.axes if ax.get_visible())
    assert {"Pareto front", "diffa-tiny · threshold+dual-cache τ=0.9"} <= {t.get_text() for t in legend.get_texts()}
    assert not any(ax.get_legend() for ax in figure.axes)


def test_the_plots_command_writes_a_figure_per_benchmark_for_papers(suite: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["plots", str(suite), "-o", str(tmp_path), "--benchmarks", "mmau_test_mini,mmar"])
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [f"{b}-sample.{s}" for b in ("mmar", "mmau_test_mini") for s in ("pdf", "png", "svg")]
    pdf = (tmp_path / "mmar-sample.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf and b"/Type3" not in pdf  # TrueType fonts embedded
    assert (tmp_path / "mmar-sample.png").read_bytes().startswith(b"\x89PNG")
    assert "MMAR (sample)" in (tmp_path / "mmar-sample.svg").read_text()
    wrong = runner.invoke(app, ["plots", str(suite), "-o", str(tmp_path), "--formats", "pdf,docx"])
    assert wrong.exit_code != 0 and "docx" in str(wrong.exception)


def test_the_sweep_trend_plot_names_its_quantity_and_keeps_its_legend_beside_the_lines(tmp_path: Path) -> None:
    for step, (accuracy, wer) in {1: (40.0, 30.0), 2: (45.0, 25.0), 10: (52.0, 21.0)}.items():
        model = f"diffa-2@{tmp_path}/ckpt/checkpoint-{step}"
        breakdown = {
            "task": {label: {"accuracy": accuracy + i} for i, label in enumerate(("sound", "music", "speech"))}
        }
        write_run_v2(tmp_path / "runs", model, "mmau_test_mini", {"accuracy": accuracy}, breakdowns=breakdown)
        write_run_v2(tmp_path / "runs", model, "librispeech_test_clean", {"wer": wer})
        (tmp_path / "ckpt" / f"checkpoint-{step}").mkdir(parents=True)
    specs = expand_checkpoints(f"diffa-2@{tmp_path}/ckpt/checkpoint-*")
    figure = plot_checkpoint_trend(checkpoint_trend(find_runs([tmp_path / "runs"]), specs))
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    mmau, librispeech = figure.axes
    assert (mmau.get_title(), mmau.get_ylabel()) == ("MMAU test-mini", "accuracy (%) ↑")
    assert librispeech.get_ylabel().endswith("(%) ↓")
    shown = [t.get_text() for t in librispeech.get_xticklabels() if t.get_visible()]
    assert shown == ["checkpoint-1", "checkpoint-2", "checkpoint-10"] and librispeech.get_xlabel() == "checkpoint"
    for ax in figure.axes:
        legend = ax.get_legend()
        assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1  # beside, not over
    assert [t.get_text() for t in mmau.get_legend().get_texts()] == ["sound ↑", "music ↑", "speech ↑", "avg ↑"]
    save_figure(figure, tmp_path / "trend.pdf")
    assert (tmp_path / "trend.pdf").read_bytes().startswith(b"%PDF")
