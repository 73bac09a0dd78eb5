"""A plan is checked before any work: each `-o` option against what the model takes, values in range, and no
run directory for an invalid plan; `--dry-run` prints the plan and runs nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.errors import ConfigError
from diffa_eval.models import model_profile
from diffa_eval.models.vllm_backend import ENGINE_OPTIONS
from diffa_eval.types import GenerationConfig, ModelSpec

from .mock_model import Script, first_choice, registered

runner = CliRunner()
MMAU = "mmau_test_mini"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "diffa_eval", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "500"})


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            "stepz=4",
            "error: diffa-tiny does not take the option 'stepz' (did you mean 'steps'?); it takes: block_length, "
            "cache_refresh, cfg_scale, compile, confidence_eos_eot_inf, decoding, eos_stop, factor, logits_eos_inf, "
            "remasking, steps, threshold",
        ),
        (
            "decoding=bogus",
            "error: diffa-tiny: option decoding: unknown decoding mode 'bogus'; rules: exact, threshold, factor; "
            "caches: prefix-cache, dual-cache",
        ),
    ],
)
def test_an_invalid_option_fails_before_any_work_saying_what_is_accepted(
    tmp_path: Path, option: str, message: str
) -> None:
    output = tmp_path / "runs"
    done = _cli("run", "-m", "diffa-tiny", "-t", MMAU, "--split", "sample", "--output-dir", str(output), "-o", option)
    assert done.returncode == 2, done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if line.strip()] == [message]
    assert not output.exists(), "no run directory, not even the output folder"


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "qwen2-audio-tiny",
            "error: qwen2-audio-tiny cannot apply model arg(s) device_map (built in code: no checkpoint to pin or "
            "place); it takes: attn_implementation, dtype",
        ),
        (
            "diffa-tiny",
            "error: diffa-tiny cannot apply model arg(s) device_map (DIFFA loads its parts itself; dtype sets its "
            "LLM's); it takes: dtype",
        ),
    ],
)
def test_model_args_a_model_cannot_apply_fail_the_plan_before_any_run(tmp_path: Path, model: str, message: str) -> None:
    output = tmp_path / "runs"
    done = _cli("run", "-m", f"chance,{model}", "-t", MMAU, "--split", "sample", "--output-dir", str(output),
                "--model-args", "device_map=cpu")  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert [line for line in done.stderr.splitlines() if line.strip()] == [message]
    assert not output.exists(), "not even the baseline ran"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"steps": 0}, "option steps must be an integer >= 1, got 0"),
        ({"steps": 2.5}, "option steps must be an integer >= 1, got 2.5"),
        ({"threshold": 0}, "option threshold must be a number in (0, 1], got 0"),
        ({"threshold": 1.5}, "option threshold must be a number in (0, 1], got 1.5"),
        ({"factor": 0}, "option factor must be a number > 0, got 0"),
        ({"cfg_scale": -1}, "option cfg_scale must be a number >= 0, got -1"),
        ({"eos_stop": "maybe"}, "option eos_stop must be true or false, got 'maybe'"),
        ({"remasking": "greedy"}, "option remasking must be one of low_confidence, random, got 'greedy'"),
        ({"cache_refresh": -1}, "option cache_refresh must be an integer >= 0, got -1"),
        ({"compile": "fastest"}, "option compile: DIFFA option compile must be none or one of default, reduce-"),
        ({"steps": 3, "block_length": 4}, "steps (3) must be a positive multiple of the number of blocks (2)"),
        ({"decoding": "factor+dual-cache", "cfg_scale": 1.0}, "factor decoding has no classifier-free guidance"),
    ],
)
def test_diffa_option_values_are_parsed_and_range_checked(options: dict[str, Any], problem: str) -> None:
    profile = model_profile(ModelSpec("diffa-tiny"))
    assert profile is not None
    with pytest.raises(ConfigError, match=r"^diffa-tiny: ") as raised:
        profile.check(GenerationConfig(max_new_tokens=8, options=options))
    assert problem in str(raised.value)


@pytest.mark.parametrize(
    "options",
    [
        {"decoding": "threshold+dual-cache", "threshold": 0.9},
        {"steps": 4, "block_length": 4, "remasking": "random"},
        {"eos_stop": "False", "cache_refresh": 2, "decoding": "prefix-cache"},
        {"compile": "none", "factor": 0.5, "decoding": "factor"},
        {"logits_eos_inf": True, "confidence_eos_eot_inf": 0},
    ],
)
def test_valid_diffa_options_pass(options: dict[str, Any]) -> None:
    profile = model_profile(ModelSpec("diffa-2"))
    assert profile is not None
    profile.check(GenerationConfig(max_new_tokens=8, options=options))


@pytest.mark.parametrize(
    ("model", "options", "message"),
    [
        ("whisper-small", {"language": "en"}, None),
        ("whisper-small", {"steps": 4}, "whisper-small does not take the option 'steps'; it takes: language"),
        ("qwen2-audio-instruct", {"steps": 4}, "qwen2-audio-instruct takes no generation options (-o), got 'steps'"),
        ("chance", {"threshold": 0.9}, "chance takes no generation options (-o), got 'threshold'"),
        ("qwen2-audio-instruct+vllm", {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.8}, None),
        ("qwen2-audio-instruct+vllm", {"tensor_parallel_size": 0}, "tensor_parallel_size must be an integer >= 1"),
        (
            "qwen2-audio-instruct+vllm",
            {"gpu_memory_utilisation": 0.8},
            "does not take the option 'gpu_memory_utilisation' (did you mean 'gpu_memory_utilization'?)",
        ),
    ],
)
def test_each_model_takes_the_options_it_declares(model: str, options: dict[str, Any], message: str | None) -> None:
    profile = model_profile(ModelSpec.parse(model))
    assert profile is not None
    config = GenerationConfig(options=options)
    if message is None:
        profile.check(config)
        return
    with pytest.raises(ConfigError) as raised:
        profile.check(config)
    assert message in str(raised.value)


def test_the_vllm_profile_declares_exactly_the_engine_options() -> None:
    profile = model_profile(ModelSpec("qwen2-audio-instruct", backend="vllm"))
    assert profile is not None and set(profile.options.names) == set(ENGINE_OPTIONS)


def test_a_model_without_a_profile_is_given_any_option(tmp_path: Path) -> None:
    with registered(Script(name="undeclared")) as record:
        args = ["run", "-m", "undeclared", "-t", MMAU, "--split", "sample", "--limit", "1", "-o", "anything=1", "-q"]
        result = runner.invoke(app, [*args, "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert record.requests[0][1].options == {"anything": 1}


PLAN_COLUMNS = ("task", "prompt", "settings", "samples", "recorded", "to run", "run directory")


def _table_rows(output: str) -> list[list[str]]:
    """The plan's rows as printed off a terminal (`model · name: value · ...`, empty values left out)."""
    rows = []
    for line in output.splitlines():
        model, *fields = line.split(" · ")
        named = dict(field.split(": ", 1) for field in fields if ": " in field)
        if "task" in named:
            rows.append([model, *(named.get(column, "") for column in PLAN_COLUMNS)])
    return rows


def test_dry_run_after_an_interrupted_run_reports_recorded_samples_and_loads_no_model(tmp_path: Path) -> None:
    answered: list[str] = []

    def answer_three(request: Any) -> str:
        if len(answered) == 3:
            raise KeyboardInterrupt  # as Ctrl-C during the fourth sample
        answered.append(request.sample_id)
        return first_choice(request)

    output = tmp_path / "runs"
    args = ["run", "-m", "scripted", "-t", MMAU, "--split", "sample", "--batch-size", "1", "--output-dir", str(output)]
    with registered(Script(name="scripted", answer=answer_three, options=())) as record:
        assert runner.invoke(app, [*args, "-q"]).exit_code == 130
        (directory,) = output.glob("scripted/*")
        before = {path: path.read_bytes() for path in directory.iterdir()}
        loads, calls = len(record.loaded), len(record.calls)
        planned = runner.invoke(app, [*args, "--dry-run"])
        limited = runner.invoke(app, [*args, "--dry-run", "--limit", "5"])
        assert (len(record.loaded), len(record.calls)) == (loads, calls), "no model loaded, nothing generated"
    assert planned.exit_code == 0, planned.output
    assert _table_rows(planned.output) == [
        ["scripted", f"{MMAU} (sample)", "default", "", "10", "3", "7", str(directory)]
    ]
    assert "10 samples planned, 3 recorded already, 7 to run; nothing was run (--dry-run)." in planned.output
    assert "plan: 1 model(s) x 1 task(s), 1 run(s)" in planned.output
    # a run of the first 5 has a directory of its own and takes over the records of those 5
    first_five = [sample["sample_id"] for sample in json.loads((directory / "plan.json").read_text())["samples"][:5]]
    taken_over = len(set(answered) & set(first_five))
    (row,) = _table_rows(limited.output)
    assert row[4:7] == ["5 of 10", str(taken_over), str(5 - taken_over)]
    assert row[7] != str(directory) and not Path(row[7]).exists()
    assert {path: path.read_bytes() for path in directory.iterdir()} == before, "nothing was written"
    assert sorted(output.rglob("*")) == sorted([output / "scripted", directory, *before])


def test_dry_run_names_the_run_directories_a_run_then_writes(tmp_path: Path) -> None:
    args = ["run", "-m", "chance,diffa-tiny", "-t", f"{MMAU},librispeech_test_clean", "--split", "sample",
            "--output-dir", str(tmp_path / "runs"), "--max-new-tokens", "2"]  # fmt: skip
    planned = runner.invoke(app, [*args, "--dry-run", "-o", "steps=2"])
    assert "chance takes no generation options" in str(planned.exception), "checked as a run checks it"
    planned = runner.invoke(app, [*args, "--dry-run"])
    assert planned.exit_code == 0, planned.output
    rows = _table_rows(planned.output)
    assert [(row[0], row[2], row[5]) for row in rows] == [
        ("chance", "default", "0"), ("chance", "default", "0"), ("diffa-tiny", "diffa", "0"),
        ("diffa-tiny", "default", "0"),
    ]  # fmt: skip
    assert not (tmp_path / "runs").exists()
    assert runner.invoke(app, [*args, "-q"]).exit_code == 0
    written = sorted(str(path.parent) for path in (tmp_path / "runs").rglob("manifest.json"))
    assert sorted(row[7] for row in rows) == written


def test_dry_run_names_the_directories_of_runs_with_model_args_and_counts_their_records(tmp_path: Path) -> None:
    from diffa_eval.models.presets import audio_chat_preset
    from diffa_eval.models.tiny import tiny_audio_chat

    folder = tmp_path / "finetune"
    built = tiny_audio_chat(audio_chat_preset("qwen2-audio-tiny"))
    built.model.save_pretrained(folder)
    built.processor.save_pretrained(folder)

    def command(dtype: str) -> list[str]:
        return ["run", "-m", f"hf@{folder},qwen2-audio-tiny", "-t", MMAU, "--split", "sample", "--model-args",
                f"dtype={dtype}", "--max-new-tokens", "2", "--output-dir", str(tmp_path / "runs")]  # fmt: skip

    args = command("float32")
    before = _table_rows(runner.invoke(app, [*args, "--dry-run"]).output)
    assert [row[4:7] for row in before] == [["10", "0", "10"], ["10", "0", "10"]]
    assert not (tmp_path / "runs").exists()
    assert runner.invoke(app, [*args, "-q"]).exit_code == 0
    written = sorted(str(path.parent) for path in (tmp_path / "runs").rglob("manifest.json"))
    assert sorted(row[7] for row in before) == written  # the model args are part of both directories
    after = _table_rows(runner.invoke(app, [*args, "--dry-run"]).output)
    assert [row[4:8] for row in after] == [[row[4], "10", "0", row[7]] for row in before], "keys as the run's"
    other = _table_rows(runner.invoke(app, [*command("bfloat16"), "--dry-run"]).output)
    assert [row[5] for row in other] == ["0", "0"] and not {row[7] for row in other} & set(written)


def test_dry_run_says_why_a_task_whose_data_cannot_load_is_not_planned(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()  # an empty data folder: no local copy of MMAU test-mini, and the hub is not asked offline
    args = ["run", "-m", "chance", "-t", f"{MMAU},librispeech_test_clean", "--data-dir", str(data), "--dry-run",
            "--output-dir", str(tmp_path / "runs")]  # fmt: skip
    planned = runner.invoke(app, args, env={"HF_HUB_OFFLINE": "1"})
    assert planned.exit_code == 0, planned.output
    lines = [line for line in planned.output.splitlines() if line.startswith("chance · ")]
    assert len(lines) == 2 and all(" · not planned: " in line and "run directory" not in line for line in lines)
    assert "put the official files in" in lines[0] and "--split sample" in lines[0]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("width", "as_table"), [(200, True), (80, False)])
def test_a_terminal_shows_the_plan_as_a_table_where_it_fits_else_a_whole_line_per_run(
    width: int, as_table: bool
) -> None:
    from io import StringIO

    from rich.console import Console

    from diffa_eval.cli.run import show_plan
    from diffa_eval.run.options import PlannedRun

    directory = Path("/runs/diffa-tiny/mmau_test_mini-sample-90707238")
    planned = [PlannedRun("diffa-tiny", MMAU, "sample", "diffa", "", 10, 10, 3, directory)]
    screen = StringIO()
    show_plan(Console(file=screen, force_terminal=True, width=width, color_system=None), planned)
    shown = screen.getvalue()
    assert ("┃ run directory" in shown) is as_table
    assert str(directory) in shown, "the run directory is never folded"
