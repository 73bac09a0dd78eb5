"""Reports read only the store: a plugin task's runs render after its file is gone; version-1 runs still render."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.report.compare import Tolerance, compare
from diffa_eval.report.plots import benchmark_plots
from diffa_eval.report.tables import build_table, to_json, to_markdown
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import find_runs
from diffa_eval.task import resolve_tasks
from diffa_eval.types import ModelSpec

from .conftest import write_audio

runner = CliRunner()

TASK_FILE = '''"""Spoken yes/no questions with a leaderboard group of their own."""

from pathlib import Path

from diffa_eval.datasources import read_json_records
from diffa_eval.describe import BenchmarkLayout, ColumnSpec
from diffa_eval.scoring.metrics import Accuracy
from diffa_eval.scoring.scorers import SCORERS
from diffa_eval.task import LoadedData, Task, register_task
from diffa_eval.types import AudioRef, DatasetInfo, Sample

HERE = Path(__file__).parent


class LoudOrQuiet(Task):
    name = "loud_or_quiet"
    version = 1
    description = "Is the tone loud? Answer text matched as MMAU does."
    splits = ("test",)
    scorer = SCORERS.get("choice_text_match")
    metrics = (Accuracy(title="accuracy", protocol="answer text matched"),)
    breakdown_fields = ("kind",)
    leaderboard = BenchmarkLayout(
        "yes_no",
        "Loud or quiet",
        (
            ColumnSpec("loud", "loud_or_quiet", "accuracy", ("kind", "loud")),
            ColumnSpec("quiet", "loud_or_quiet", "accuracy", ("kind", "quiet")),
            ColumnSpec("all", "loud_or_quiet", "accuracy"),
        ),
        "Loud or quiet: accuracy (%), answer text matched",
    )

    def load(self, split, data_dir=None):
        records, blob = read_json_records(HERE / "questions.jsonl")
        samples = [self.sample_from_record(record, HERE) for record in records]
        return LoadedData(samples, DatasetInfo("local", "questions.jsonl", blob))

    def sample_from_record(self, record, base_dir=None):
        return Sample(record["id"], AudioRef(path=str(HERE / record["audio"])), record["answer"], ("yes", "no"), record)

    def prompt(self, sample):
        return "Is the tone loud? Answer yes or no."


register_task(LoudOrQuiet())
'''


def _plugin_runs(tmp_path: Path) -> Path:
    """chance and oracle on the plugin task, run in another process; then the task folder is deleted."""
    folder, output = tmp_path / "tasks", tmp_path / "runs"
    folder.mkdir()
    (folder / "loud_or_quiet.py").write_text(TASK_FILE)
    write_audio(folder / "tone.wav", seconds=0.2)
    items = [{"id": f"q{n}", "audio": "tone.wav", "answer": "yes" if n % 2 else "no"} for n in range(6)]
    for item in items:
        item["kind"] = "loud" if item["answer"] == "yes" else "quiet"
    (folder / "questions.jsonl").write_text("".join(json.dumps(item) + "\n" for item in items))
    done = subprocess.run(
        [sys.executable, "-m", "diffa_eval", "run", "-m", "chance,oracle", "-t", "loud_or_quiet", "--tasks-dir",
         str(folder), "--output-dir", str(output), "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.rmtree(folder)
    return output


def _table(*args: str) -> str:
    result = runner.invoke(app, ["table", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_plugin_tasks_runs_render_and_compare_after_its_task_file_is_deleted(tmp_path: Path) -> None:
    output = _plugin_runs(tmp_path)
    markdown = _table(str(output), "-f", "markdown")
    assert markdown.splitlines()[0] == (
        "| model | Loud or quiet · loud ↑ | Loud or quiet · quiet ↑ | Loud or quiet · all ↑ |"
    )
    assert "| oracle | **100.00** | **100.00** | **100.00** |" in markdown
    assert "Loud or quiet: accuracy (%), answer text matched" in markdown
    assert "\\multicolumn{3}{c}{Loud or quiet}" in _table(str(output), "-f", "latex")
    page = tmp_path / "board.html"
    _table(str(output), "-f", "html", "--plots", "-o", str(page))
    assert '<th colspan="3">Loud or quiet</th>' in page.read_text()
    (plots,) = benchmark_plots(find_runs([output]))  # chance and oracle are baselines: data, drawn as lines only
    assert (plots.title, [panel.axis_label for panel in plots.quality]) == ("Loud or quiet", ["accuracy (%) ↑"])
    assert plots.bars is not None and plots.bars.categories == ("loud", "quiet")
    assert "oracle,measured,yes_no,test,loud,loud_or_quiet,accuracy,100.0000" in _table(str(output), "-f", "csv")
    board = json.loads(_table(str(output), "-f", "json"))
    assert [column["key"] for column in board["columns"]] == ["yes_no:loud", "yes_no:quiet", "yes_no:all"]
    assert board["columns"][0]["unit"] == "%"
    assert "Loud or quiet" in _table(str(output), "--cost")
    verdict = tmp_path / "verdict.json"
    result = runner.invoke(app, ["compare", str(output / "chance"), str(output / "oracle"), "--json", str(verdict)])
    assert result.exit_code == 0, result.output
    (comparison,) = json.loads(verdict.read_text())["comparisons"]
    assert comparison["task"] == "loud_or_quiet" and comparison["metrics"][0]["candidate"] == 100.0


def _as_version_1(root: Path) -> None:
    """Rewrite every run under `root` as version 1 wrote it: no self-description, no cost totals."""
    for manifest_path in root.rglob("manifest.json"):
        manifest = json.loads(manifest_path.read_text())
        for key in ("description", "variant", "scope", "judge"):
            del manifest[key]
        manifest_path.write_text(json.dumps({**manifest, "schema_version": 1}))
        metrics_path = manifest_path.parent / "metrics.json"
        metrics = json.loads(metrics_path.read_text())
        del metrics["cost"]
        metrics_path.write_text(json.dumps({**metrics, "schema_version": 1}))


def test_a_version_1_run_directory_renders_and_compares_as_its_version_2_form(tmp_path: Path) -> None:
    options = RunOptions(split="sample", output_dir=tmp_path / "v2")
    evaluate([ModelSpec("chance"), ModelSpec("oracle")], resolve_tasks(["mmau_test_mini", "mmsu"]), options)
    shutil.copytree(tmp_path / "v2", tmp_path / "v1")
    _as_version_1(tmp_path / "v1")
    old, new = find_runs([tmp_path / "v1"]), find_runs([tmp_path / "v2"])
    assert {run.manifest.schema_version for run in old} == {1} and all(run.manifest.description is None for run in old)
    for render in (to_markdown, to_json):
        texts = [
            render(build_table(runs, cost=True)).replace(str(tmp_path / v), "")
            for runs, v in ((old, "v1"), (new, "v2"))
        ]
        assert texts[0] == texts[1]
    verdicts = [
        compare([r for r in runs if r.manifest.model == "chance"], [r for r in runs if r.manifest.model == "oracle"],
                Tolerance())
        for runs in (old, new)
    ]  # fmt: skip
    old_numbers, new_numbers = (
        [(m.metric, m.candidate, m.n) for c in v.comparisons for m in c.metrics] for v in verdicts
    )
    assert old_numbers == new_numbers
    assert len(verdicts[0].comparisons[1].metrics) == 4  # MMSU's four metrics, from the frozen version-1 rules
