"""Habits users bring from lm-eval: `--version`, and `--limit` as a fraction of each task's samples."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.errors import ConfigError
from diffa_eval.report.tables import build_table
from diffa_eval.run import RunOptions
from diffa_eval.run.options import limit_count
from diffa_eval.store import find_runs

runner = CliRunner()


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"diffa-eval {version('diffa-eval')}\n"


def test_limit_as_a_fraction_runs_that_share_of_each_task_rounded_up_and_is_recorded(tmp_path: Path) -> None:
    args = ["run", "-m", "chance", "-t", "mmau_test_mini,librispeech_test_clean", "--split", "sample"]
    result = runner.invoke(app, [*args, "--limit", "0.25", "--output-dir", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    scopes = {
        json.loads(path.read_text())["task"]: json.loads(path.read_text())["scope"]
        for path in tmp_path.rglob("manifest.json")
    }
    assert scopes == {
        "mmau_test_mini": {"dataset": 10, "planned": 3, "limit": 0.25, "max_failures": 0.0},  # ceil(2.5)
        "librispeech_test_clean": {"dataset": 5, "planned": 2, "limit": 0.25, "max_failures": 0.0},  # ceil(1.25)
    }
    runs = find_runs([tmp_path])
    assert {run.manifest.scope.limit for run in runs if run.manifest.scope} == {0.25}  # read back as a fraction
    assert build_table(runs).rows == [] and build_table(runs).partial_left_out == 2
    (row,) = build_table(runs, partial=True).rows
    assert row.cells["mmau_test_mini:avg@sample"].partial == "3 of 10 samples"
    assert row.cells["librispeech:clean@sample"].partial == "2 of 5 samples"


@pytest.mark.parametrize("text", ["0", "1.5", "-0.5", "ten", "nan"])
def test_a_limit_that_is_neither_a_count_nor_a_fraction_is_refused(tmp_path: Path, text: str) -> None:
    args = ["run", "-m", "chance", "-t", "mmau_test_mini", "--split", "sample", "--output-dir", str(tmp_path)]
    result = runner.invoke(app, [*args, "--limit", text])
    assert result.exit_code == 2
    shown = " ".join(result.output.replace("│", " ").split())  # the usage error's box wraps its lines
    assert "neither a whole number of samples >= 1 nor a fraction between 0 and 1" in shown
    assert not any(tmp_path.iterdir())


def test_limits_from_python_follow_the_same_rule() -> None:
    assert [limit_count(limit, 10) for limit in (None, 3, 30, 0.25, 0.01, 0.99)] == [10, 3, 10, 3, 1, 10]
    for bad in (0, 1.5, 2.0, True):
        with pytest.raises(ConfigError, match="limit must be a whole number >= 1 or a fraction between 0 and 1"):
            RunOptions(limit=bad)
