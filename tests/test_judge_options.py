"""The LLM judge is a run option: named in `RunOptions.judge` (or by --judge-url/--judge-model, whose defaults are
the DIFFA_EVAL_JUDGE_* variables), handed to judge-scored tasks in the scoring call, recorded in the manifest
and in each verdict; the API key is read from the environment when requests are sent and is never stored."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.scoring.judge import JudgeSettings
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

from .chat_server import ChatServer, Reply, fast, running

TASK = "voicebench_alpacaeval"
JUDGE_VARIABLES = ("DIFFA_EVAL_JUDGE_API_KEY", "OPENAI_API_KEY", "DIFFA_EVAL_JUDGE_BASE_URL", "DIFFA_EVAL_JUDGE_MODEL")
NOWHERE = "http://127.0.0.1:9/v1"
"""A judge URL nothing answers at (the discard port)."""


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ChatServer]:
    """A judge on 127.0.0.1 that rates every answer 4, with no judge variable set and a fresh verdict cache."""
    for name in JUDGE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIFFA_EVAL_CACHE_DIR", str(tmp_path / "cache"))
    with running(lambda request: Reply(texts=["4", "4", "4"])) as server:
        yield server


def _manifest(outcome: Any) -> dict[str, Any]:
    return dict(json.loads((outcome.run_dir / "manifest.json").read_text()))


def test_the_judge_of_the_run_options_scores_the_run_whatever_the_environment_says(
    chat: ChatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_BASE_URL", NOWHERE)
    options = RunOptions(split="sample", output_dir=tmp_path / "runs", judge=fast(chat))
    outcome = evaluate([ModelSpec("chance")], [TASKS.get(TASK)], options)[0]
    assert outcome.metrics.n_scored == 2 and outcome.metrics.metrics["gpt_score"].value == 4.0
    assert len(chat.requests) == 2 and {r.body["model"] for r in chat.requests} == {"judge-model"}
    assert _manifest(outcome)["judge"] == {"url": chat.url, "model": "judge-model"}
    endpoints = {record.judgement["endpoint"] for record in read_run(outcome.run_dir).records()}  # type: ignore[index]
    assert endpoints == {f"{chat.url}/chat/completions"}


def test_a_run_of_a_task_without_a_judge_records_none(chat: ChatServer, tmp_path: Path) -> None:
    options = RunOptions(split="sample", output_dir=tmp_path / "runs", judge=fast(chat))
    outcome = evaluate([ModelSpec("chance")], [TASKS.get("mmau_test_mini")], options)[0]
    assert _manifest(outcome)["judge"] is None and not chat.requests


def test_the_command_line_names_the_judge_without_setting_environment_variables(
    chat: ChatServer, tmp_path: Path
) -> None:
    args = ["run", "-m", "chance", "-t", TASK, "--split", "sample", "--output-dir", str(tmp_path / "runs"), "-q"]
    result = CliRunner().invoke(app, [*args, "--judge-url", chat.url, "--judge-model", "served-model"])
    assert result.exit_code == 0, result.output
    assert not {name for name in JUDGE_VARIABLES if name in os.environ}
    assert {r.body["model"] for r in chat.requests} == {"served-model"}
    (manifest,) = (tmp_path / "runs").rglob("manifest.json")
    assert json.loads(manifest.read_text())["judge"] == {"url": chat.url, "model": "served-model"}


def test_the_judge_variables_are_the_defaults_of_the_command_line_options(
    chat: ChatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_BASE_URL", chat.url)
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_MODEL", "from-the-environment")
    args = ["run", "-m", "chance", "-t", TASK, "--split", "sample", "--output-dir", str(tmp_path / "runs"), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (manifest,) = (tmp_path / "runs").rglob("manifest.json")
    assert json.loads(manifest.read_text())["judge"] == {"url": chat.url, "model": "from-the-environment"}
    assert CliRunner().invoke(app, [*args, "--judge-model", "named"]).exit_code == 0  # the option wins
    assert json.loads(manifest.read_text())["judge"]["model"] == "named"


def test_the_api_key_is_read_when_requests_are_sent_and_stored_nowhere(
    chat: ChatServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = RunOptions(split="sample", output_dir=tmp_path / "runs", judge=JudgeSettings(base_url=chat.url))
    assert options.judge is not None and options.judge.api_key is None
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_API_KEY", "sk-read-at-request-time")
    outcome = evaluate([ModelSpec("chance")], [TASKS.get(TASK)], options)[0]
    assert {r.headers["authorization"] for r in chat.requests} == {"Bearer sk-read-at-request-time"}
    for path in outcome.run_dir.iterdir():
        assert "sk-read-at-request-time" not in path.read_text(errors="replace"), path.name


def test_score_asks_the_judge_of_its_options_without_setting_environment_variables(
    chat: ChatServer, tmp_path: Path
) -> None:
    path = tmp_path / "alpaca.jsonl"
    path.write_text('{"index": 0, "prompt": "Say hi.", "response": "Hi!"}\n')
    args = ["score", TASK, str(path), "--json", "--judge-url", chat.url, "--judge-model", "scorer-model"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metrics"]["gpt_score"]["value"] == 4.0
    assert [r.body["model"] for r in chat.requests] == ["scorer-model"]
    assert not {name for name in JUDGE_VARIABLES if name in os.environ}
