"""VoiceBench tasks: protocols with seeded fallbacks, the judge through the runner, and Overall."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.run import RunOptions, evaluate
from diffa_eval.scoring.judge import JudgeSettings
from diffa_eval.store import read_run
from diffa_eval.task import TASKS, builtin_module
from diffa_eval.types import ModelSpec, Sample

from .chat_server import SERVER_ERROR, ChatServer, Reply, fast, running

MCQ = TASKS.get("voicebench_openbookqa")
seeded_choice = builtin_module("voicebench.evaluators").seeded_choice


def test_every_subset_is_a_task_in_the_voicebench_group() -> None:
    names = {name for name in TASKS.names() if "voicebench" in TASKS.get(name).groups}
    assert names == {
        "voicebench_alpacaeval", "voicebench_alpacaeval_full", "voicebench_commoneval", "voicebench_wildvoice",
        "voicebench_sd_qa", "voicebench_openbookqa", "voicebench_mmsu", "voicebench_bbh", "voicebench_ifeval",
        "voicebench_advbench",
    }  # fmt: skip
    assert TASKS.get("voicebench_sd_qa").splits[:3] == ("test", "usa", "aus")
    assert TASKS.get("voicebench_mmsu").splits[:2] == ("test", "biology")


@pytest.mark.parametrize(
    ("response", "official", "strict", "fallback"),
    [
        ("The answer is B.", 1.0, 1.0, 0.0),
        ("b", 1.0, 1.0, 0.0),
        ("The answer is A.", 0.0, 0.0, 0.0),
        ("I am not sure.", None, 0.0, 1.0),  # official: a guess seeded by the sample id
    ],
)
def test_multiple_choice_protocols(response: str, official: float | None, strict: float, fallback: float) -> None:
    sample = Sample("test-7", None, "B")
    score = MCQ.score(sample, response)
    expected = official if official is not None else float(seeded_choice("test-7", "ABCD") == "B")
    assert (score.value, score.details["strict"], score.details["fallback"]) == (expected, strict, fallback)
    assert MCQ.score(sample, response) == score  # the guess is reproducible


def test_advbench_reports_both_refusal_rules() -> None:
    task = TASKS.get("voicebench_advbench")
    score = task.score(Sample("0", None, None), "i'm sorry, i can't do that")
    assert score.value == 1.0 and score.details["case_sensitive"] == 0.0


def test_overall_is_the_leaderboard_mean_with_judge_scores_times_twenty() -> None:
    # GPT-4o-Audio's row of the official leaderboard: 86.75 overall
    row = {
        "voicebench_alpacaeval_full": {"gpt_score": 4.78}, "voicebench_commoneval": {"gpt_score": 4.49},
        "voicebench_wildvoice": {"gpt_score": 4.58}, "voicebench_sd_qa": {"score": 75.50},
        "voicebench_mmsu": {"accuracy": 80.25}, "voicebench_openbookqa": {"accuracy": 89.23},
        "voicebench_bbh": {"accuracy": 84.10}, "voicebench_ifeval": {"final": 76.02},
        "voicebench_advbench": {"refusal_rate": 98.65},
    }  # fmt: skip
    overall = TASKS.get("voicebench_bbh").describe().group_scores[0]
    values = {(task, metric): value for task, m in row.items() for metric, value in m.items()}
    assert overall.compute(values) == pytest.approx(86.75, abs=0.005)
    del values[("voicebench_bbh", "accuracy")]
    assert overall.compute(values) is None


@pytest.fixture
def judge_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DIFFA_EVAL_JUDGE_API_KEY", "OPENAI_API_KEY", "DIFFA_EVAL_JUDGE_BASE_URL", "DIFFA_EVAL_JUDGE_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIFFA_EVAL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    """A scripted chat-completions server on 127.0.0.1."""
    with running() as server:
        yield server


_JUDGE: dict[str, JudgeSettings] = {}
"""The judge the runs of a test name in their options, once it points one at a server."""


def _point_judge_at(monkeypatch: pytest.MonkeyPatch, chat: ChatServer) -> None:
    monkeypatch.setitem(_JUDGE, "settings", fast(chat))


def _run(tmp_path: Path, task: str = "voicebench_alpacaeval", output: str = "runs") -> Any:
    options = RunOptions(split="sample", output_dir=tmp_path / output, judge=_JUDGE.get("settings"))
    return evaluate([ModelSpec("chance")], [TASKS.get(task)], options)[0]


def test_without_a_judge_outputs_are_kept_and_scored_by_a_later_run(
    tmp_path: Path,
    judge_env: None,
    chat: ChatServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = _run(tmp_path)
    assert (first.metrics.n_pending, first.metrics.metrics) == (2, {})
    assert "No LLM judge is configured" in first.pending
    _point_judge_at(monkeypatch, chat)
    chat.script = lambda request: Reply(texts=["4", "5", "[[3]]"])
    second = _run(tmp_path)
    assert (second.generated, second.metrics.n_pending, second.metrics.n_scored) == (0, 0, 2)
    assert second.metrics.metrics["gpt_score"].value == pytest.approx(4.0)
    assert len(chat.requests) == 2
    record = read_run(second.run_dir).records()[0]
    assert record.judgement["replies"] == ["4", "5", "[[3]]"] and len(record.judgement["prompt_sha256"]) == 64


def test_a_rerun_elsewhere_reuses_every_cached_verdict(
    tmp_path: Path,
    judge_env: None,
    chat: ChatServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _point_judge_at(monkeypatch, chat)
    _run(tmp_path, "voicebench_commoneval", "first")
    asked = len(chat.requests)
    again = _run(tmp_path, "voicebench_commoneval", "second")  # a fresh run directory: everything regenerated
    assert again.generated == 2 and len(chat.requests) == asked == 2


def test_another_judge_server_under_the_same_model_name_is_asked_anew_and_each_record_names_its_judge(
    tmp_path: Path,
    judge_env: None,
    chat: ChatServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat.script = lambda request: Reply(texts=["2", "2", "2"])
    _point_judge_at(monkeypatch, chat)
    first = _run(tmp_path, "voicebench_commoneval", "first")
    with running(lambda request: Reply(texts=["5", "5", "5"])) as other:
        _point_judge_at(monkeypatch, other)
        second = _run(tmp_path, "voicebench_commoneval", "second")  # the same cache, another server
        assert len(other.requests) == 2
    assert (first.metrics.metrics["gpt_score"].value, second.metrics.metrics["gpt_score"].value) == (2.0, 5.0)
    for outcome, server in ((first, chat), (second, other)):
        endpoints = {record.judgement["endpoint"] for record in read_run(outcome.run_dir).records()}
        assert endpoints == {f"{server.url}/chat/completions"}


def test_a_judge_that_keeps_failing_leaves_a_per_sample_error_and_no_regeneration(
    tmp_path: Path,
    judge_env: None,
    chat: ChatServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _point_judge_at(monkeypatch, chat)
    chat.script = lambda request: SERVER_ERROR
    failing = _run(tmp_path, "voicebench_wildvoice")
    assert failing.metrics.n_failed == 2
    assert "judge failed after" in read_run(failing.run_dir).records()[0].error
    chat.script = lambda request: Reply()
    healed = _run(tmp_path, "voicebench_wildvoice")
    assert (healed.generated, healed.metrics.n_failed, healed.metrics.metrics["gpt_score"].value) == (0, 0, 5.0)


def test_score_reads_official_voicebench_output_files(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from diffa_eval.cli import app

    rows = [{"prompt": "Q?", "reference": "B", "response": "The answer is B."}, {"prompt": "Q?", "reference": "A"}]
    path = tmp_path / "myModel-openbookqa-test.jsonl"
    path.write_text("\n".join(json.dumps({"index": i, **row}) for i, row in enumerate(rows)) + "\n")
    result = CliRunner().invoke(app, ["score", "voicebench_openbookqa", str(path), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)["metrics"]
    assert metrics["accuracy_strict"]["value"] == 50.0 and metrics["fallback_rate"]["value"] == 50.0


def test_score_asks_the_judge_named_on_the_command_line(
    tmp_path: Path, judge_env: None, chat: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from diffa_eval.cli import app

    monkeypatch.setenv("DIFFA_EVAL_JUDGE_BASE_URL", "http://unused.invalid/v1")  # restored after the test
    monkeypatch.setenv("DIFFA_EVAL_JUDGE_MODEL", "unused")
    chat.script = lambda request: Reply(texts=["5", "4", "3"])
    path = tmp_path / "alpaca.jsonl"
    path.write_text('{"index": 0, "prompt": "Say hi.", "response": "Hi!"}\n')
    args = ["score", "voicebench_alpacaeval", str(path), "--json", "--judge-url", chat.url, "--judge-model", "j"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["metrics"]["gpt_score"]["value"] == pytest.approx(4.0)
    assert chat.requests[0].body["model"] == "j" and chat.requests[0].body["n"] == 3


def test_a_judge_rating_that_is_not_a_finite_number_is_no_rating() -> None:
    from diffa_eval.scoring.judge import JudgeOutputError

    open_rating = builtin_module("voicebench.judging").open_rating
    for text in ("nan", "inf", "-inf"):
        with pytest.raises(JudgeOutputError, match="not a finite score"):
            open_rating(text)
    assert open_rating(" 4.5 ") == 4.5


def test_sd_qa_waits_for_pedant_and_never_asks_the_judge_twice(
    tmp_path: Path, judge_env: None, chat: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from diffa_eval.errors import MissingDependencyError
    from diffa_eval.scoring import pedant

    def no_pedant(*args: object) -> bool:
        raise MissingDependencyError("qa-metrics==0.2.17", "judge")

    monkeypatch.setattr(pedant, "pedant_correct", no_pedant)
    _point_judge_at(monkeypatch, chat)
    chat.script = lambda request: Reply(texts=["Yes", "yes", "No"])
    first = _run(tmp_path, "voicebench_sd_qa")
    assert (first.metrics.n_pending, first.metrics.metrics) == (2, {})
    assert "SD-QA needs PEDANT" in first.pending
    again = _run(tmp_path, "voicebench_sd_qa")
    assert again.generated == 0 and again.metrics.n_pending == 2
    assert len(chat.requests) == 2  # the verdicts are cached: PEDANT alone is missing
