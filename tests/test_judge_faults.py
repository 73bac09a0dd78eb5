"""A faulty LLM judge seen through the runner: bounded retries, per-sample failures, and re-runs that resume.

The judge is the scripted loopback server of test_judge.py, named in the runs' options (`RunOptions.judge`),
and the tasks are VoiceBench's judge-scored subsets on their bundled `sample` split. Each prompt gets
a seeded list of faults (429 with Retry-After, 500, a reply slower than the client's timeout, a body
that is not a chat completion, a connection reset or closed without an answer) served before its
verdict; a prompt with more faults than the client's retries fails in the first run and is judged
in a later one.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.run import RunOptions, RunOutcome, evaluate
from diffa_eval.scoring.judge import JudgeSettings
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

from .chat_server import SERVER_ERROR, ChatServer, ReceivedRequest, Reply, running

JUDGED = ("voicebench_alpacaeval", "voicebench_alpacaeval_full", "voicebench_commoneval", "voicebench_wildvoice")
MAX_RETRIES = 3
TIMEOUT_S = 0.2
RETRY_AFTER_S = 0.05
FAULTS: dict[str, Reply] = {
    "429 retry-after": Reply(
        status=429, body=b'{"error": {"message": "Rate limit"}}', headers={"Retry-After": str(RETRY_AFTER_S)}
    ),
    "500": SERVER_ERROR,
    "timeout": Reply(delay_s=TIMEOUT_S * 2),
    "not json": Reply(body=b"<html>502 Bad Gateway</html>"),
    "no choices": Reply(body=b'{"object": "chat.completion", "choices": []}'),
    "reset": Reply(hang_up="reset"),
    "closed": Reply(hang_up="close"),
}


QUICK = {"timeout_s": TIMEOUT_S, "max_retries": MAX_RETRIES, "backoff_s": 0.001, "max_backoff_s": 0.01}
"""The judge's request handling in these tests: a short timeout and millisecond backoff."""


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ChatServer]:
    """The loopback judge; runs name it in their options (`_run`), and no judge variable is set."""
    for name in ("DIFFA_EVAL_JUDGE_API_KEY", "OPENAI_API_KEY", "DIFFA_EVAL_JUDGE_MODEL", "DIFFA_EVAL_JUDGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIFFA_EVAL_CACHE_DIR", str(tmp_path / "cache"))
    with running() as server:
        yield server


def _run(tmp_path: Path, output: str, judge: ChatServer) -> dict[str, RunOutcome]:
    options = RunOptions(split="sample", output_dir=tmp_path / output, judge=JudgeSettings(base_url=judge.url, **QUICK))
    outcomes = evaluate([ModelSpec("chance")], [TASKS.get(name) for name in JUDGED], options)
    return {outcome.task: outcome for outcome in outcomes}


def _records(outcomes: dict[str, RunOutcome]) -> list[Any]:
    return [record for o in outcomes.values() if o.run_dir for record in read_run(o.run_dir).records()]


def _rating(request: ReceivedRequest) -> Reply:
    rating = 1 + sum(request.prompt.encode()) % 5
    return Reply(texts=[str(rating), "4", f"[[{6 - rating}]]"])


@pytest.mark.parametrize("seed", range(4))
def test_judge_faults_end_in_per_sample_failures_and_reruns_ask_only_for_missing_verdicts(
    judge: ChatServer, tmp_path: Path, seed: int
) -> None:
    judge.script = _rating
    reference = _run(tmp_path, "reference", judge)
    prompts = set(judge.prompts())
    judge.requests.clear()
    (tmp_path / "cache").rename(tmp_path / "reference-cache")

    rng = random.Random(seed)
    plans = {prompt: [rng.choice(list(FAULTS)) for _ in range(rng.choice((0, 1, 2, 3, 5, 6)))] for prompt in prompts}
    plans[min(prompts)] = ["429 retry-after", "timeout"]  # at least one of each below, whatever the seed
    plans[max(prompts)] = list(FAULTS)  # every kind; more than the retries, so it fails in the first run
    served: Counter[str] = Counter()

    def faulty(request: ReceivedRequest) -> Reply:
        plan = plans[request.prompt]
        if plan:
            kind = plan.pop(0)
            served[kind] += 1
            return FAULTS[kind]
        return _rating(request)

    judge.script = faulty
    cached: set[str] = set()
    runs = 0
    while True:
        asked_before = len(judge.requests)
        outcomes = _run(tmp_path, "runs", judge)
        runs += 1
        asked = Counter(request.prompt for request in judge.requests[asked_before:])
        assert not set(asked) & cached, "a cached verdict was asked for again"
        assert max(asked.values(), default=0) <= MAX_RETRIES + 1, "retries are bounded"
        assert all(o.generated == (2 if runs == 1 else 0) for o in outcomes.values()), "outputs are never regenerated"
        failed = [r for r in _records(outcomes) if r.failed]
        for record in failed:
            assert record.error_stage == "scoring" and record.output is not None
            assert record.error.startswith(f"judge failed after {MAX_RETRIES + 1} requests: gave up after")
        judged = {prompt for prompt, count in asked.items() if plans[prompt] == [] and count}
        cached |= judged
        if not failed:
            break
        assert runs < 4
    assert runs >= 2 and cached == prompts
    for name, outcome in outcomes.items():
        assert outcome.metrics is not None and reference[name].metrics is not None
        assert replace(outcome.metrics, cost=None) == replace(reference[name].metrics, cost=None)  # timings differ
    assert set(served) == set(FAULTS)
    print(f"\n{sum(served.values())} judge faults over {len(prompts)} prompts in {runs} runs: {dict(served)}")


def test_a_rate_limited_prompt_waits_for_retry_after_before_its_next_request(judge: ChatServer, tmp_path: Path) -> None:
    limited: set[str] = set()

    def script(request: ReceivedRequest) -> Reply:
        if request.prompt not in limited:
            limited.add(request.prompt)
            return FAULTS["429 retry-after"]
        return _rating(request)

    judge.script = script
    outcomes = _run(tmp_path, "runs", judge)
    assert all(o.metrics is not None and o.metrics.n_scored == 2 for o in outcomes.values())
    by_prompt: dict[str, list[float]] = {}
    for request in judge.requests:
        by_prompt.setdefault(request.prompt, []).append(request.at)
    assert all(len(times) == 2 for times in by_prompt.values())
    assert min(times[1] - times[0] for times in by_prompt.values()) >= RETRY_AFTER_S * 0.9


def test_an_unreadable_judge_answer_is_a_per_sample_error_that_reruns_do_not_ask_for_again(
    judge: ChatServer, tmp_path: Path
) -> None:
    judge.script = lambda request: Reply(texts=["A fine answer.", "4", "5"])
    first = _run(tmp_path, "runs", judge)
    records = _records(first)
    assert len(records) == 8 and all(r.error_stage == "scoring" for r in records)
    assert all("the judge's answer has no score: 'A fine answer.'" in r.error for r in records)
    asked = len(judge.requests)
    again = _run(tmp_path, "runs", judge)
    assert len(judge.requests) == asked  # the answer is cached: asking again would cost and may differ
    assert sum(o.generated for o in again.values()) == 0
    assert [r.error for r in _records(again)] == [r.error for r in records]
