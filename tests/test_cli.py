"""The command line as a user types it: list, run, score, table, and quick start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app

runner = CliRunner()


def _invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


@pytest.mark.parametrize("argv", [["--help"], ["list", "tasks"], ["list", "models"], ["table", "--help"]])
def test_help_and_listing_never_import_torch(argv: list[str]) -> None:
    code = (
        "import sys\nfrom diffa_eval.cli import main\n"
        f"sys.argv = ['diffa-eval', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('torch imported' if 'torch' in sys.modules else 'torch not imported', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "torch not imported" in done.stderr, done.stderr


def test_list_tasks_shows_tasks_and_groups() -> None:
    rows = json.loads(_invoke("list", "tasks", "--json"))
    by_name = {row["name"]: row for row in rows}
    assert {"mmau_test_mini", "librispeech_test_clean", "librispeech_test_other"} <= set(by_name)
    assert by_name["librispeech_test_clean"]["groups"] == ["librispeech"]
    assert by_name["mmau_test_mini"]["metric"] == "accuracy"


def test_list_models_says_each_models_family_and_backends_plainly() -> None:
    rows = {row["name"]: row for row in json.loads(_invoke("list", "models", "--json"))}
    families = {name: (row["family"], row["backends"]) for name, row in rows.items()}
    assert families["chance"] == families["oracle"] == ("baseline", [])
    assert families["diffa-2"] == families["diffa-tiny"] == ("diffusion", ["transformers"])
    assert families["qwen2-audio-instruct"] == ("autoregressive", ["transformers", "vllm"])
    assert families["qwen2-audio-tiny"] == ("autoregressive", ["transformers"])
    assert families["whisper-large-v3"] == ("ASR", ["transformers"])
    assert "random" in rows["chance"]["description"].lower()
    table = " ".join(runner.invoke(app, ["list", "models"], env={"COLUMNS": "250"}).output.split())
    assert "name ┃ family ┃ backends ┃ description" in table
    assert "chance │ baseline │ none │" in table and "whisper-tiny │ ASR │ transformers │" in table


def test_list_scorers_names_the_official_rules() -> None:
    rows = {row["name"]: row for row in json.loads(_invoke("list", "scorers", "--json"))}
    assert {"choice_text_match", "whisper_wer"} <= set(rows)


def test_run_prints_a_leaderboard_and_a_rerun_is_free(tmp_path: Path) -> None:
    args = [
        "run",
        "--models",
        "chance,oracle",
        "--tasks",
        "mmau_test_mini,librispeech_test_clean",
        "--split",
        "sample",
        "--output-dir",
        str(tmp_path),
        "--quiet",
    ]
    first = _invoke(*args)
    assert "leaderboard" in first and "100.00" in first and "0.00" in first
    assert "oracle · mmau_test_mini (sample): 10 generated, 0 reused, 0 failed" in first
    second = _invoke(*args)
    assert "oracle · mmau_test_mini (sample): 0 generated, 10 reused, 0 failed" in second


def test_run_exits_non_zero_when_too_many_samples_fail(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "MMAU"
    folder.mkdir(parents=True)
    record = {
        "id": "gone",
        "audio_id": "./test-mini-audios/gone.wav",
        "question": "Which?",
        "choices": ["A", "B"],
        "answer": "A",
        "task": "sound",
        "difficulty": "easy",
        "sub-category": "Counting",
    }
    (folder / "mmau-test-mini.json").write_text(json.dumps([record]))
    args = ["run", "-m", "oracle", "-t", "mmau_test_mini", "--data-dir", str(tmp_path / "data"), "-q"]
    args += ["--output-dir", str(tmp_path / "runs")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "exceeded --max-failures" in result.output
    tolerant = runner.invoke(app, [*args, "--max-failures", "1.0"])
    assert tolerant.exit_code == 0


def test_errors_print_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "diffa_eval",
            "run",
            "-m",
            "chance",
            "-t",
            "mmau_tset_mini",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown task 'mmau_tset_mini'. Did you mean 'mmau_test_mini'" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr


def test_table_formats(tmp_path: Path) -> None:
    _invoke(
        "run", "-m", "chance,oracle", "-t", "mmau_test_mini", "--split", "sample", "--output-dir", str(tmp_path), "-q"
    )
    markdown = _invoke("table", str(tmp_path), "--format", "markdown")
    assert markdown.splitlines()[0].startswith("| model | MMAU test-mini (sample) · sound ↑ |")
    assert "| oracle | **100.00** | **100.00** | **100.00** | **100.00** |" in markdown
    with_ci = _invoke("table", str(tmp_path), "--format", "markdown", "--ci", "--models", "oracle")
    assert "| oracle | 100.00 ± 0.00 | 100.00 ± 0.00 | 100.00 ± 0.00 | 100.00 ± 0.00 |" in with_ci
    csv_lines = _invoke("table", str(tmp_path), "--format", "csv").splitlines()
    assert csv_lines[0].startswith("model,kind,benchmark,split,column,task,metric,value")
    assert any(
        line.startswith("oracle,measured,mmau_test_mini,sample,avg,mmau_test_mini,accuracy,100.0000")
        for line in csv_lines
    )
    board = json.loads(_invoke("table", str(tmp_path), "--format", "json"))
    assert [row["model"] for row in board["rows"]] == ["chance", "oracle"]
    assert "oracle" in _invoke("table", str(tmp_path))
    latex = _invoke("table", str(tmp_path), "--format", "latex", "--caption", "Sample split", "--label", "tab:sample")
    assert "\\caption{Sample split}" in latex and "\\label{tab:sample}" in latex and "\\toprule" in latex
    page = tmp_path / "board.html"
    _invoke("table", str(tmp_path), "--format", "html", "--output", str(page))
    assert "<strong>100.00</strong>" in page.read_text()
