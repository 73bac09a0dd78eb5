"""The commands that run models share one definition of each run option, and build their RunOptions in one place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from diffa_eval.cli import app

runner = CliRunner()
SHARED = {
    "--tasks", "--split", "--limit", "--batch-size", "--seed", "--device", "--output-dir", "--data-dir", "--tasks-dir",
    "--max-failures", "--max-new-tokens", "--temperature", "--top-p", "--option", "--prompt", "--long-audio",
    "--backend", "--judge-url", "--judge-model",
}  # fmt: skip


def _options(command: str) -> dict[str, Any]:
    """Option name -> the option as the command line defines it, for one command."""
    found = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {name: parameter for parameter in found.params for name in parameter.opts if name.startswith("--")}


def test_run_sweep_and_compare_backends_offer_every_shared_option_with_one_meaning() -> None:
    run, sweep, backends = _options("run"), _options("sweep"), _options("compare-backends")
    assert run.keys() >= SHARED and sweep.keys() >= SHARED
    assert backends.keys() >= SHARED - {"--backend"} and "--backends" in backends  # it compares backends
    for name in SHARED - {"--backend", "--limit", "--max-failures"}:
        texts = {options[name].help for options in (run, sweep, backends)}
        assert len(texts) == 1, name
    assert backends["--limit"].default == 50 and run["--limit"].default is None  # a quick check by default
    assert run["--max-failures"].default == 0.0 and sweep["--max-failures"].default is None


def test_sweep_runs_each_checkpoint_with_the_seed_sampling_and_options_given(
    tmp_path: Path, recording_model: tuple[str, list[list[str]], set[str]]
) -> None:
    (tmp_path / "ckpt" / "checkpoint-1").mkdir(parents=True)
    args = [
        "sweep", "-m", f"recording@{tmp_path}/ckpt/checkpoint-*", "-t", "mmau_test_mini", "--split", "sample",
        "--output-dir", str(tmp_path / "runs"), "-q", "--seed", "5", "--temperature", "0.5", "--top-p", "0.9",
        "-o", "steps=4", "--long-audio", "skip", "--limit", "2", "--max-failures", "0",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (manifest_path,) = (tmp_path / "runs").rglob("manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["seed"] == 5 and manifest["scope"]["max_failures"] == 0.0 and manifest["scope"]["planned"] == 2
    generation = manifest["generation"]
    assert (generation["temperature"], generation["top_p"], generation["options"]["steps"]) == (0.5, 0.9, 4)


def test_sweep_exits_1_when_a_run_fails_beyond_max_failures(
    tmp_path: Path, recording_model: tuple[str, list[list[str]], set[str]]
) -> None:
    _, _, raise_on = recording_model
    raise_on.add("788a0618-48ec-5068-ade2-75bd8760fdfd")  # one sample of ten fails
    (tmp_path / "ckpt" / "checkpoint-1").mkdir(parents=True)
    args = [
        "sweep", "-m", f"recording@{tmp_path}/ckpt/checkpoint-*", "-t", "mmau_test_mini", "--split", "sample",
        "--output-dir", str(tmp_path / "runs"), "-q", "--batch-size", "1",
    ]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0  # no bound unless given, as before
    bounded = runner.invoke(app, [*args, "--max-failures", "0.05"], terminal_width=200)
    assert bounded.exit_code == 1 and "exceeded --max-failures 0.05" in bounded.output
