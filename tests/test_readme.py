"""What the README and the Makefile promise works as written."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.models import MODELS
from diffa_eval.task import TASKS, add_tasks_dir

from .conftest import REPO, write_audio

runner = CliRunner()


def _code_after(heading: str, language: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index(heading) :]
    match = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert match, f"no {language} block after {heading}"
    return match.group(1)


def test_the_demo_target_runs_the_baselines_and_prints_the_leaderboard(tmp_path: Path) -> None:
    recipe = (REPO / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    command = next(line for line in recipe.splitlines() if "diffa-eval run" in line)
    args = shlex.split(command.split("diffa-eval", 1)[1])
    result = runner.invoke(app, [*args, "--output-dir", str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.startswith("│")}
    # columns: MMAU test-mini sound, music, speech, avg; LibriSpeech WER clean, other
    assert [cell.strip() for cell in rows["oracle"].split("│")[5:8]] == ["100.00", "0.00", "0.00"]
    assert [cell.strip() for cell in rows["chance"].split("│")[6:8]] == ["100.00", "100.00"]


def test_the_python_example_runs(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    exec(_code_after("From Python:", "python"), {})
    assert (tmp_path / "results" / "runs" / "oracle").is_dir()


def _task_example(tmp_path: Path) -> Path:
    """The README's task file in a folder of its own, with its two questions."""
    folder = tmp_path / "my_tasks"
    folder.mkdir()
    (folder / "yes_no.py").write_text(_code_after("## Adding a task", "python"))
    write_audio(folder / "q1.wav")
    write_audio(folder / "q2.wav")
    (folder / "my_questions.jsonl").write_text(
        json.dumps({"id": "q1", "audio": "q1.wav", "question": "Is it loud?", "answer": "yes"})
        + "\n"
        + json.dumps({"id": "q2", "audio": "q2.wav", "question": "Is it quiet?", "answer": "no"})
        + "\n"
    )
    return folder


def test_the_task_example_runs(tmp_path: Path) -> None:
    folder = _task_example(tmp_path)
    try:
        add_tasks_dir(folder)
        result = runner.invoke(app, ["run", "-m", "oracle", "-t", "my_yes_no", "--output-dir", str(tmp_path), "-q"])
    finally:
        TASKS.unregister("my_yes_no")
    assert result.exit_code == 0, result.output
    assert "2 generated" in result.output and "100.00" in result.output


def test_the_task_example_has_its_own_leaderboard_group_and_columns_after_its_file_is_gone(tmp_path: Path) -> None:
    folder = _task_example(tmp_path)
    runs = tmp_path / "runs"
    try:
        add_tasks_dir(folder)
        for model in ("oracle", "chance"):
            ran = runner.invoke(app, ["run", "-m", model, "-t", "my_yes_no", "--output-dir", str(runs), "-q"])
            assert ran.exit_code == 0, ran.output
    finally:
        TASKS.unregister("my_yes_no")
    (folder / "yes_no.py").unlink()
    table = runner.invoke(app, ["table", str(runs), "--format", "csv"])
    assert table.exit_code == 0, table.output
    cells = {(row["model"], row["column"]): row for row in csv.DictReader(io.StringIO(table.output))}
    assert {row["benchmark"] for row in cells.values()} == {"my_yes_no"}
    columns = ("yes items", "no items", "all")
    assert [float(cells["oracle", column]["value"]) for column in columns] == [100.0, 100.0, 100.0]
    yes, no, overall = (float(cells["chance", column]["value"]) for column in columns)
    assert {yes, no} <= {0.0, 100.0} and overall == (yes + no) / 2  # one item each
    terminal = runner.invoke(app, ["table", str(runs)]).output
    assert "Yes/no questions" in terminal and "yes items" in terminal
    assert "Yes/no questions: accuracy (%), MMAU's string match" in terminal


def test_the_model_example_runs(tmp_path: Path) -> None:
    namespace: dict[str, object] = {}
    exec(_code_after("## Adding a model", "python"), namespace)
    MODELS.register("my-model", namespace["MyModel"])  # type: ignore[arg-type]
    try:
        result = runner.invoke(
            app,
            ["run", "-m", "my-model", "-t", "mmau_test_mini", "--split", "sample", "--output-dir", str(tmp_path), "-q"],
        )
    finally:
        MODELS.unregister("my-model")
    assert result.exit_code == 0, result.output
    assert "my-model · mmau_test_mini (sample): 10 generated" in result.output


def test_the_slurm_array_example_and_merge_run(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    script = _code_after("**Independent processes**", "bash")
    size = int(re.search(r"#SBATCH --array=0-(\d+)", script).group(1)) + 1  # type: ignore[union-attr]
    command = next(line for line in script.splitlines() if line.startswith("diffa-eval run"))
    for task_id in range(size):
        line = command.replace("$SLURM_ARRAY_TASK_ID", str(task_id)).replace("$SLURM_ARRAY_TASK_COUNT", str(size))
        args = shlex.split(line)[1:]
        args[args.index("--models") + 1] = "oracle"  # the baseline stands in for the GPU model
        result = runner.invoke(app, [*args, "--split", "sample"])
        assert result.exit_code == 0, result.output
    merge = next(line for line in _code_after("**Merging.**", "bash").splitlines() if "--into" not in line)
    result = runner.invoke(app, shlex.split(merge)[1:])
    assert result.exit_code == 0, result.output
    assert result.output.count("complete") == 3  # mmau_test_mini and both LibriSpeech test sets


def _run_lines(block: str) -> list[int]:
    codes = []
    for line in block.replace("\\\n", " ").splitlines():
        if line.strip():
            args = shlex.split(line.split("diffa-eval", 1)[1])
            result = runner.invoke(app, args)
            assert result.exit_code == 0, (line, result.output)
            codes.append(result.exit_code)
    return codes


def test_the_table_examples_run_as_written(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").symlink_to(REPO / "results", target_is_directory=True)
    block = _code_after("| `--output`, `-o` |", "bash").replace("results/demo", str(tmp_path / "demo"))
    _run_lines(block)
    assert "\\toprule" in (tmp_path / "table.tex").read_text()
    page = (tmp_path / "report.html").read_text()
    assert "<svg" in page and 'id="sample-browser"' in page
    plots = _code_after("`pip install 'diffa-eval[plots]'` (matplotlib).", "bash")
    _run_lines(plots.replace("results/runs", str(tmp_path / "demo")))
    assert sorted(path.name for path in (tmp_path / "figures").iterdir()) == [
        "mmau_test_mini-sample.pdf", "mmau_test_mini-sample.png",
    ]  # fmt: skip


def test_the_compare_example_runs_as_written(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from .stored_runs import accuracy_records, write_run

    monkeypatch.chdir(tmp_path)
    write_run(
        tmp_path / "results" / "baseline",
        "a",
        "mmau_test_mini",
        {"accuracy": 50.0},
        records=accuracy_records([1, 0] * 20),
    )
    write_run(tmp_path / "results" / "candidate", "b", "mmau_test_mini", {"accuracy": 50.0},
              records=accuracy_records([0, 1] * 20))  # fmt: skip
    _run_lines(_code_after("### Comparing a checkpoint with a baseline", "bash"))
    assert json.loads((tmp_path / "verdict.json").read_text())["passed"]
    assert (tmp_path / "summary.md").read_text().startswith("### diffa-eval compare")
    workflow = _code_after("### Comparing a checkpoint with a baseline", "yaml")
    import yaml

    steps = yaml.safe_load(workflow)["jobs"]["gate"]["steps"]
    assert any("diffa-eval compare" in step.get("run", "") for step in steps)
