"""Runs that would do nothing are errors; bad values and output paths fail before any work, in one line.

Every case runs the real `diffa-eval` command in a subprocess, on files built in the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import write_audio

MMAU = "mmau_test_mini"


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command, on a console wide enough that no message is wrapped."""
    command = [sys.executable, "-m", "diffa_eval", *args]
    environment = {**os.environ, "COLUMNS": "500", **env}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ")
    return line


def _mmau(root: Path, ids: list[str]) -> Path:
    folder = root / "MMAU"
    write_audio(folder / "test-mini-audios" / "a.wav", seconds=0.1)
    items = [{"id": i, "audio_id": "./test-mini-audios/a.wav", "question": "Which?", "choices": ["yes", "no"],
              "answer": "yes", "task": "sound"} for i in ids]  # fmt: skip
    (folder / "mmau-test-mini.json").write_text(json.dumps(items))
    return root


def _run_dirs(output: Path) -> list[Path]:
    return [path for path in output.glob("*/*") if path.is_dir()] if output.exists() else []


# ---------------------------------------------------------------------------------------------
# Runs with nothing in them


@pytest.mark.parametrize("content", [b"", b"[]", b" \n\t\n"], ids=["zero-bytes", "empty-list", "whitespace"])
def test_a_metadata_file_without_records_fails_its_task(tmp_path: Path, content: bytes) -> None:
    root = _mmau(tmp_path / "data", [])
    (root / "MMAU" / "mmau-test-mini.json").write_bytes(content)
    output = tmp_path / "runs"
    done = _cli("run", "-m", "chance", "-t", MMAU, "--data-dir", str(root), "--output-dir", str(output), "-q")
    assert done.returncode == 1, done.stdout + done.stderr
    text = done.stdout
    assert f"{MMAU}: test has no samples ({root / 'MMAU' / 'mmau-test-mini.json'} is empty)" in text
    assert "Traceback" not in done.stderr
    assert _run_dirs(output) == []


@pytest.mark.parametrize(("models", "tasks", "missing"), [("", MMAU, "model"), ("chance", " , ", "task")])
def test_an_empty_model_or_task_list_is_an_error(tmp_path: Path, models: str, tasks: str, missing: str) -> None:
    output = tmp_path / "runs"
    done = _cli("run", "-m", models, "-t", tasks, "--split", "sample", "--output-dir", str(output))
    assert _one_line_error(done) == f"error: nothing to run: no {missing} named"
    assert not output.exists()


# ---------------------------------------------------------------------------------------------
# Values and paths checked before any work


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "threshold=NaN"], "generation option threshold=nan is not a finite JSON value"),
        (["-o", "threshold=Infinity"], "generation option threshold=inf is not a finite JSON value"),
        (["-o", "steps=[1, -Infinity]"], "generation option steps=[1, -inf] is not a finite JSON value"),
        (["--temperature", "inf"], "temperature must be a finite number >= 0, got inf"),
    ],
)
def test_non_finite_generation_values_fail_before_a_run_directory_exists(
    tmp_path: Path, args: list[str], message: str
) -> None:
    output = tmp_path / "runs"
    done = _cli("run", "-m", "chance", "-t", MMAU, "--split", "sample", "--output-dir", str(output), *args)
    assert _one_line_error(done) == f"error: {message}"
    assert not output.exists()


def test_a_sample_id_that_is_not_valid_unicode_is_evaluated_stored_and_resumed(tmp_path: Path) -> None:
    root = _mmau(tmp_path / "data", ["plain", "PLACEHOLDER"])
    metadata = root / "MMAU" / "mmau-test-mini.json"
    metadata.write_text(metadata.read_text().replace("PLACEHOLDER", "bad\\udc80id"))  # a JSON-escaped lone surrogate
    output = tmp_path / "runs"
    args = ["run", "-m", "chance", "-t", MMAU, "--data-dir", str(root), "--output-dir", str(output), "-q"]
    first = _cli(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 generated, 0 reused, 0 failed" in " ".join(first.stdout.split())
    (directory,) = _run_dirs(output)
    records = [json.loads(line) for line in (directory / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["sample_id"] for r in records) == ["bad\ufffdid", "plain"]
    plan = json.loads((directory / "plan.json").read_text(encoding="utf-8"))
    assert sorted(s["sample_id"] for s in plan["samples"]) == ["bad\ufffdid", "plain"]
    again = _cli(*args)
    assert "0 generated, 2 reused, 0 failed" in " ".join(again.stdout.split())


def test_sweep_checks_its_plot_and_markdown_paths_before_evaluating(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    output = tmp_path / "runs"
    base = ["sweep", "-m", "chance", "-t", MMAU, "--split", "sample", "--output-dir", str(output), "-q"]
    unwritable = _one_line_error(_cli(*base, "--plot", str(blocker / "trend.svg")))
    assert f"cannot write --plot {blocker / 'trend.svg'}" in unwritable
    unknown_format = _one_line_error(_cli(*base, "--plot", str(tmp_path / "trend.xyz")))
    assert "--plot" in unknown_format and "'.xyz'" in unknown_format
    assert f"cannot write --markdown {blocker / 't.md'}" in _one_line_error(
        _cli(*base, "--markdown", str(blocker / "t.md"))
    )
    assert _run_dirs(output) == [], "nothing was evaluated"


def test_bench_checks_its_output_path_before_loading_the_model(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = _cli("bench", "--samples", "1", "--audio-seconds", "0.2", "--gen-length", "2", "--modes", "threshold",
                "--device", "cpu", "--output", str(blocker / "bench.json"))  # fmt: skip
    assert f"cannot write --output {blocker / 'bench.json'}" in _one_line_error(done)
    assert done.stdout == "", "no benchmark ran"


# ---------------------------------------------------------------------------------------------
# Messages


def test_a_data_dir_that_does_not_exist_is_an_error_not_a_hub_download(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    missing = tmp_path / "no-such-folder"
    done = _cli("run", "-m", "chance", "-t", MMAU, "--data-dir", str(missing), "--output-dir", str(output))
    line = _one_line_error(done)
    assert f"the data folder {missing} (--data-dir) does not exist" in line
    assert not output.exists()
    line = _one_line_error(
        _cli("run", "-m", "chance", "-t", MMAU, "--output-dir", str(output), DIFFA_EVAL_DATA_DIR=str(missing))
    )
    assert "(DIFFA_EVAL_DATA_DIR) does not exist" in line


@pytest.mark.parametrize(
    ("line", "problem"),
    [("1272-128104-0001", "no transcript text"), ("garbage words here", "not SPEAKER-CHAPTER-UTTERANCE")],
)
def test_a_malformed_librispeech_transcript_line_is_named_by_file_and_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    chapter = tmp_path / "data" / "LibriSpeech" / "test-clean" / "1272" / "128104"
    write_audio(chapter / "1272-128104-0000.flac", seconds=0.1, format="FLAC")
    transcript = chapter / "1272-128104.trans.txt"
    transcript.write_text(f"1272-128104-0000 A GOOD LINE\n{line}\n")
    args = ["run", "-m", "chance", "-t", "librispeech_test_clean", "--data-dir", str(tmp_path / "data")]
    done = _cli(*args, "--output-dir", str(tmp_path / "runs"), "-q")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"{transcript}, line 2: {problem}" in done.stdout


def test_table_write_errors_do_not_advise_resuming(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    finished = _cli("run", "-m", "chance", "-t", MMAU, "--split", "sample", "--output-dir", str(output), "-q")
    assert finished.returncode == 0, finished.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = _one_line_error(_cli("table", str(output), "-f", "markdown", "-o", str(blocker / "table.md")))
    assert line.startswith(f"error: cannot write {blocker / 'table.md'}: ")
    assert "resume" not in line


def _footnotes(output: Path) -> Any:
    done = _cli("table", str(output), "-f", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["footnotes"]


def test_the_mmau_footnote_names_a_label_version_only_when_the_runs_know_it(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    root = _mmau(tmp_path / "data", ["a", "b"])  # metadata that is no official release
    _cli("run", "-m", "chance", "-t", MMAU, "--data-dir", str(root), "--output-dir", str(output), "-q")
    notes = _footnotes(output)
    assert "MMAU: accuracy (%), official string match" in notes
    assert not any("MMAU-v05.15.25" in note for note in notes)
    (manifest,) = output.rglob("manifest.json")  # as a run of the official file records it
    data = json.loads(manifest.read_text())
    data["dataset"]["label_version"] = "MMAU-v05.15.25"
    manifest.write_text(json.dumps(data))
    assert "MMAU: accuracy (%), official string match, labels MMAU-v05.15.25" in _footnotes(output)


def test_bench_refuses_a_non_finite_option_before_loading_the_model(tmp_path: Path) -> None:
    done = _cli("bench", "--samples", "1", "--audio-seconds", "0.2", "--gen-length", "2", "--modes", "threshold",
                "--device", "cpu", "-o", "threshold=NaN", "--output", str(tmp_path / "bench.json"))  # fmt: skip
    assert _one_line_error(done) == "error: generation option threshold=nan is not a finite JSON value"
    assert done.stdout == "" and not (tmp_path / "bench.json").exists()
