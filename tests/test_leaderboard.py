"""Leaderboards are built only from stored runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffa_eval.report.leaderboard import build_leaderboard, runs_frame, to_markdown
from diffa_eval.runner import RunOptions, evaluate
from diffa_eval.store import find_runs
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    tasks = [TASKS.get("mmau_test_mini"), TASKS.get("librispeech_test_clean")]
    evaluate([ModelSpec("oracle"), ModelSpec("chance")], tasks, RunOptions(split="sample", output_dir=tmp_path))
    return tmp_path


def test_rows_are_models_and_columns_are_primary_metrics(runs: Path) -> None:
    board = build_leaderboard(find_runs([runs]))
    assert [model for model, _ in board.rows] == ["chance", "oracle"]
    assert [(c.task, c.metric, c.lower_is_better) for c in board.columns] == [
        ("librispeech_test_clean", "wer", True),
        ("mmau_test_mini", "accuracy", False),
    ]
    assert to_markdown(board).splitlines()[2] == "| chance | 100.00 | 20.00 |"


def test_runs_that_have_not_completed_are_left_out(runs: Path) -> None:
    manifest = next(runs.glob("oracle/mmau_test_mini-*/manifest.json"))
    (manifest.parent / "metrics.json").unlink()
    board = build_leaderboard(find_runs([runs]))
    assert "mmau_test_mini (sample) accuracy" not in dict(board.rows)["oracle"]


def test_failed_samples_are_flagged(runs: Path) -> None:
    metrics_path = next(runs.glob("chance/mmau_test_mini-*/metrics.json"))
    metrics = json.loads(metrics_path.read_text())
    metrics["n_failed"] = 2
    metrics_path.write_text(json.dumps(metrics))
    text = to_markdown(build_leaderboard(find_runs([runs])))
    assert "| chance | 100.00 | 20.00* |" in text
    assert "some samples failed" in text


def test_every_metric_of_every_run_as_a_dataframe(runs: Path) -> None:
    frame = runs_frame(find_runs([runs]))
    assert len(frame) == 4
    assert set(frame.columns) >= {"model", "task", "split", "metric", "value", "ci_low", "ci_high", "n", "run_dir"}
    oracle_wer = frame[(frame.model == "oracle") & (frame.metric == "wer")]["value"].item()
    assert oracle_wer == 0.0
