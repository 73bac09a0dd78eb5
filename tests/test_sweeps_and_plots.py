"""Checkpoint sweeps, the Pareto front, plots in PNG/SVG and the HTML report in a real browser."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.report.plots import (
    SpeedPoint,
    pareto_front,
    plot_category_bars,
    report_figures,
    save_figure,
    speed_points,
)
from diffa_eval.report.sweep import expand_checkpoints
from diffa_eval.report.tables import build_table, to_html
from diffa_eval.store import find_runs

from .stored_runs import accuracy_records, paper_runs, write_run

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


def test_speed_points_come_from_recorded_sample_times(tmp_path: Path) -> None:
    write_run(
        tmp_path,
        "m",
        "mmau_test_mini",
        {"accuracy": 60.0},
        records=accuracy_records([1, 0] * 5, 0.5, 16),
        options={"steps": 16},
    )
    (point,) = speed_points(find_runs([tmp_path]))
    assert (point.label, point.samples_per_second, point.forward_passes) == ("m steps=16", 2.0, 16.0)


def test_plots_are_written_as_png_and_svg(tmp_path: Path) -> None:
    runs = find_runs([paper_runs(tmp_path / "runs")])
    for name in ("bars.png", "bars.svg"):
        save_figure(plot_category_bars(runs, "mmau_test_mini", "task"), str(tmp_path / name))
    assert (tmp_path / "bars.png").read_bytes().startswith(b"\x89PNG")
    assert "<svg" in (tmp_path / "bars.svg").read_text()


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


def _html_report(tmp_path: Path) -> Path:
    root = paper_runs(tmp_path / "runs")
    for steps, (value, seconds) in {16: (62.0, 0.2), 64: (66.0, 0.6)}.items():
        write_run(
            root,
            f"diffa-2-s{steps}",
            "mmau_test_mini",
            {"accuracy": value},
            records=accuracy_records([1, 0] * 5, seconds, steps),
            options={"steps": steps},
        )
    runs = find_runs([root])
    page = tmp_path / "report.html"
    page.write_text(to_html(build_table(runs), with_ci=True, figures=report_figures(runs)))
    return page


def test_the_html_report_embeds_its_plots_inline(tmp_path: Path) -> None:
    text = _html_report(tmp_path).read_text()
    assert text.count("<svg") >= 3  # quality vs samples/s, vs forward passes, per-category bars
    assert "Pareto front" in text
    assert 'src="http' not in text and "<link" not in text


def _chromium() -> str | None:
    return next((p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium")
def test_the_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    page = _html_report(tmp_path)
    done = subprocess.run(
        [_chromium() or "", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert '<table id="leaderboard">' in dom and "<strong>66.00</strong>" in dom
    assert dom.count("<svg") >= 3
    shot = tmp_path / "shot.png"
    subprocess.run(
        [_chromium() or "", "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1400,2000", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.read_bytes().startswith(b"\x89PNG")


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
