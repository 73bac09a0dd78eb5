"""Through the CLI on the bundled sample: two decoding modes of a DIFFA model and an AR baseline as rows of their
own with their cost, in every format; a limited run never stands in for a full one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.store import find_runs

runner = CliRunner()

FAST = "diffa-tiny · threshold+dual-cache τ=0.9"


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("runs")
    common = ("-t", "mmau_test_mini", "--split", "sample", "--output-dir", str(output), "-q")
    _invoke("run", "-m", "diffa-tiny,qwen2-audio-tiny,chance", *common)
    _invoke("run", "-m", "diffa-tiny", "-o", "decoding=threshold+dual-cache", *common)
    board = _invoke("run", "-m", "chance", "--limit", "3", "--seed", "5", *common)
    assert "20.00‡" not in board and "‡" in board and "3 of 10 samples" in board  # `run` shows its partial runs, marked
    return output


def test_decoding_modes_and_an_ar_baseline_are_rows_with_their_cost_in_every_format(runs: Path) -> None:
    rows = ["chance", "diffa-tiny", FAST, "qwen2-audio-tiny"]
    board = json.loads(_invoke("table", str(runs), "--cost", "-f", "json"))
    assert [row["model"] for row in board["rows"]] == rows
    cost = {row["model"]: row["cost"] for row in board["rows"]}
    records = [
        r for run in find_runs([runs / "diffa-tiny"]) if not run.manifest.variant.settings for r in run.records()
    ]
    assert cost["diffa-tiny"]["forward_passes_per_sample"] == sum(r.forward_passes for r in records) / len(records)
    assert cost[FAST]["forward_passes_per_sample"] is not None and cost[FAST]["device"] == "cpu"
    assert cost["qwen2-audio-tiny"]["generated_tokens_per_sample"] > 0
    assert all(cost[name]["seconds_per_sample"] > 0 and cost[name]["samples_per_second"] > 0 for name in rows)
    variants = {row["model"]: row["variant"] for row in board["rows"]}
    assert variants[FAST]["settings"] == {"options": {"decoding": "threshold+dual-cache"}}
    assert variants["diffa-tiny"]["settings"] == {}
    markdown = _invoke("table", str(runs), "--cost", "-f", "markdown")
    assert all(f"| {name} |" in markdown for name in rows)
    assert "cost · passes/sample" in markdown
    latex = _invoke("table", str(runs), "--cost", "-f", "latex")
    assert r"diffa-tiny $\cdot$ threshold+dual-cache $\tau$=0.9 &" in latex and "passes/sample" in latex
    page = runs.parent / "board.html"
    _invoke("table", str(runs), "--cost", "-f", "html", "-o", str(page))
    name = '<td><span class="model">diffa-tiny</span><span class="variant">threshold+dual-cache τ=0.9</span></td>'
    assert name in page.read_text() and "samples/s" in page.read_text()
    lines = _invoke("table", str(runs), "--cost", "-f", "csv").splitlines()
    assert any(line.startswith(f"{FAST},measured,cost,,passes/sample,") for line in lines)
    assert any(line.startswith("qwen2-audio-tiny,measured,cost,,tokens/sample,") for line in lines)
    terminal = _invoke("table", str(runs), "--cost")
    assert all(name in terminal for name in rows) and "passes/sample" in terminal


def test_a_limited_run_of_other_settings_is_left_out_unless_asked(runs: Path) -> None:
    board = json.loads(_invoke("table", str(runs), "-f", "json"))
    chance = next(row for row in board["rows"] if row["model"] == "chance")
    assert chance["cells"]["mmau_test_mini:avg@sample"]["value"] == 20.0
    assert "1 partial run left out" in " ".join(board["footnotes"])
    with_partial = _invoke("table", str(runs), "--partial", "-f", "markdown")
    assert "| chance · seed 5 |" in with_partial and "‡ partial run, not ranked: chance · seed 5 on mmau_test_mini" in (
        with_partial
    )


def test_a_limited_run_of_the_same_settings_is_a_run_of_its_own_and_leaves_the_full_run_as_it_was(
    tmp_path: Path,
) -> None:
    common = ("-m", "chance", "-t", "mmau_test_mini", "--split", "sample", "--output-dir", str(tmp_path), "-q")
    _invoke("run", *common)
    full = {run.directory: run.metrics for run in find_runs([tmp_path])}
    assert "0 generated, 3 reused" in _invoke("run", *common, "--limit", "3")  # it reuses the full run's records
    runs = find_runs([tmp_path])
    assert len(runs) == 2 and all(run.metrics == full[run.directory] for run in runs if run.directory in full)
    board = json.loads(_invoke("table", str(tmp_path), "-f", "json"))
    assert [row["cells"]["mmau_test_mini:avg@sample"]["value"] for row in board["rows"]] == [20.0]


def test_one_commands_runs_share_a_row_even_where_a_value_asked_for_is_a_tasks_own(tmp_path: Path) -> None:
    common = ("-m", "chance", "-t", "mmau_test_mini,mmsu", "--split", "sample", "--output-dir", str(tmp_path), "-q")
    _invoke("run", *common, "--max-new-tokens", "64")  # MMAU's own answer length, not MMSU's
    board = json.loads(_invoke("table", str(tmp_path), "-f", "json"))
    assert [row["model"] for row in board["rows"]] == ["chance"]
    _invoke("run", *common)  # the default run: the same computation on MMAU, another on MMSU
    assert len(find_runs([tmp_path])) == 3
    board = json.loads(_invoke("table", str(tmp_path), "-f", "json"))
    rows = {row["model"]: row for row in board["rows"]}
    assert list(rows) == ["chance", "chance · max tokens 64"]
    assert all(len(row["cells"]) == len(board["columns"]) for row in rows.values())  # both rows fill every column
    mmau = "mmau_test_mini:avg@sample"
    assert rows["chance"]["cells"][mmau]["source"] == rows["chance · max tokens 64"]["cells"][mmau]["source"]
