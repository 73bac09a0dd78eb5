"""Leaderboards are built only from stored runs: completed ones, with failed samples flagged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffa_eval.report.leaderboard import runs_frame
from diffa_eval.report.tables import build_table, to_markdown
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import find_runs
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    tasks = [TASKS.get("mmau_test_mini"), TASKS.get("librispeech_test_clean")]
    evaluate([ModelSpec("oracle"), ModelSpec("chance")], tasks, RunOptions(split="sample", output_dir=tmp_path))
    return tmp_path


def test_rows_are_models_and_columns_are_benchmark_sub_columns(runs: Path) -> None:
    table = build_table(find_runs([runs]))
    assert [row.name for row in table.rows] == ["chance", "oracle"]
    assert [c.spec.label for c in table.columns] == ["sound", "music", "speech", "avg", "clean"]
    markdown = to_markdown(table)
    # of two distinct values only the better one is marked: the second best would be the worst
    assert "| chance | 33.33 | 25.00 | 0.00 | 20.00 | 100.00 |" in markdown
    assert "| oracle | **100.00** | **100.00** | **100.00** | **100.00** | **0.00** |" in markdown


def test_runs_that_have_not_completed_are_left_out(runs: Path) -> None:
    manifest = next(runs.glob("oracle/mmau_test_mini-*/manifest.json"))
    (manifest.parent / "metrics.json").unlink()
    table = build_table(find_runs([runs]))
    oracle = next(row for row in table.rows if row.name == "oracle")
    assert not any(key.startswith("mmau_test_mini") for key in oracle.cells)


def test_failed_samples_are_flagged(runs: Path) -> None:
    metrics_path = next(runs.glob("chance/mmau_test_mini-*/metrics.json"))
    metrics = json.loads(metrics_path.read_text())
    metrics["n_failed"] = 2
    metrics_path.write_text(json.dumps(metrics))
    text = to_markdown(build_table(find_runs([runs])))
    assert "| chance | 33.33* | 25.00* | 0.00* | 20.00* | 100.00 |" in text
    assert "some samples failed" in text


def test_every_metric_of_every_run_as_a_dataframe(runs: Path) -> None:
    frame = runs_frame(find_runs([runs]))
    assert len(frame) == 6  # 2 models x (MMAU accuracy, LibriSpeech wer and wer_diffa2)
    columns = {"model", "variant", "task", "split", "metric", "value", "ci_low", "ci_high", "n", "run_dir"}
    assert set(frame.columns) >= columns
    oracle_wer = frame[(frame.model == "oracle") & (frame.metric == "wer")]["value"].item()
    assert oracle_wer == 0.0
