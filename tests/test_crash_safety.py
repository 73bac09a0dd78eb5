"""A run SIGKILLed at any point, however often, and resumed ends exactly as an uninterrupted run.

Kill points are drawn with a seeded generator (tests/crash_harness.py says how they are aimed):
first one at every kind of write (a record append, the compaction of samples.jsonl, metrics.json,
the first and last manifest.json) in every phase (before, half-written, after), then random ones,
a third of them from outside after a random delay. Attempts go on in one run directory until an
attempt finishes; then that directory is checked against the uninterrupted run and a fresh one
starts. DIFFA_EVAL_KILL_POINTS (default 36) sets how many kills to make, DIFFA_EVAL_KILL_SEED the seed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from diffa_eval.run import RunOptions

from .chat_server import ChatServer, ReceivedRequest, Reply, running
from .crash_harness import PHASES, TARGETS, Harness, KillPoint, comparable, lines, metrics, run_dir, wait_for

KILL_POINTS = int(os.environ.get("DIFFA_EVAL_KILL_POINTS", "36"))
SEED = int(os.environ.get("DIFFA_EVAL_KILL_SEED", "0"))
N_SAMPLES = 30
BATCH = 4

pytestmark = pytest.mark.slow


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "harness", n_samples=N_SAMPLES, batch_size=BATCH)


def _assert_same_as(reference: Path, output: Path) -> None:
    """Every sample exactly once, in dataset order, with the reference's record (timings aside) and metrics."""
    got, expected = lines(output), lines(reference)
    assert [r["sample_id"] for r in got] == [r["sample_id"] for r in expected]
    assert len({r["key"] for r in got}) == len(got) == N_SAMPLES
    assert comparable(got) == comparable(expected)
    assert metrics(output) == metrics(reference)
    manifest = json.loads((run_dir(output) / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert not list(run_dir(output).glob(".*.tmp")), "temporary files of killed writes are removed"


def _assert_readable_after_kill(output: Path) -> None:
    """What a killed run leaves is readable: JSON files whole, every complete record line valid JSON."""
    if not list(output.rglob("manifest.json")):
        return
    directory = run_dir(output)
    json.loads((directory / "manifest.json").read_text())
    if (directory / "metrics.json").exists():
        json.loads((directory / "metrics.json").read_text())
    text = (directory / "samples.jsonl").read_text() if (directory / "samples.jsonl").exists() else ""
    for line in text.splitlines(keepends=True):
        if line.endswith("\n"):
            json.loads(line)


def _kill_plan(rng: random.Random, count: int, reference_s: float) -> list[KillPoint | float]:
    """Aimed kill points at every (write, phase) first, then random ones; a float is a kill from outside after it."""
    occurrences = {"append": lambda: rng.randint(1, N_SAMPLES), "manifest.json": lambda: rng.choice((1, 2))}
    aimed: list[KillPoint | float] = [
        KillPoint(target, occurrences.get(target, lambda: 1)(), phase) for target in TARGETS for phase in PHASES
    ]
    plan = aimed[:count]
    while len(plan) < count:
        if rng.random() < 1 / 3:
            plan.append(rng.uniform(0.3, reference_s))
        else:
            target = rng.choice(("append",) * 5 + TARGETS)
            plan.append(KillPoint(target, occurrences.get(target, lambda: 1)(), rng.choice(PHASES)))
    return plan


def test_sigkill_at_any_write_or_moment_then_resume_equals_the_uninterrupted_run(
    harness: Harness, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    started = time.monotonic()
    assert harness.run(reference, env={"CRASHY_CALLS": str(tmp_path / "reference.calls")}).returncode == 0
    reference_s = time.monotonic() - started

    rng = random.Random(SEED)
    plan = _kill_plan(rng, KILL_POINTS, reference_s)
    kills = chains = 0
    chain_kills = 0
    output = tmp_path / "chain-0"

    def finish_chain() -> None:
        nonlocal chains, chain_kills, output
        _assert_same_as(reference, output)
        generated = harness.generated()
        ok = {r["sample_id"] for r in lines(output) if r["error"] is None}
        repeated = sum(count - 1 for sample_id, count in generated.items() if sample_id in ok)
        assert repeated <= chain_kills * BATCH, "finished samples were produced again"
        assert set(generated) <= set(harness.sample_ids)
        chains += 1
        chain_kills = 0
        harness.calls.unlink(missing_ok=True)
        output = tmp_path / f"chain-{chains}"

    for point in plan:
        if isinstance(point, KillPoint):
            attempt = harness.run(output, kill=point)
        else:
            attempt = harness.run(output, kill_after_s=point)
        if attempt.killed:
            kills += 1
            chain_kills += 1
            _assert_readable_after_kill(output)
        else:
            assert attempt.returncode == 0, attempt.stderr
            finish_chain()
    final = harness.run(output)
    assert final.returncode == 0, final.stderr
    finish_chain()

    hit = Counter(tuple(line.split(":")[::2]) for line in harness.kill_log())
    if len(TARGETS) * len(PHASES) <= KILL_POINTS:
        assert set(hit) == {(target, phase) for target in TARGETS for phase in PHASES}
    assert kills >= KILL_POINTS // 2
    print(f"\n{kills} kills in {chains} run directories; aimed kills by (write, phase): {dict(hit)}")


def test_a_finished_run_run_again_asks_the_model_only_for_the_failed_samples(harness: Harness, tmp_path: Path) -> None:
    output = tmp_path / "runs"
    assert harness.run(output).returncode == 0
    harness.calls.unlink()
    again = harness.run(output)
    assert again.returncode == 0
    assert "28 reused, 2 failed" in again.stdout
    assert harness.generated() == {"s005-raises": 1}  # the corrupt clip fails before the model


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_among_the_clips_never_hangs_the_run_and_the_first_ctrl_c_stops_it(
    harness: Harness, tmp_path: Path
) -> None:
    os.mkfifo(harness.data / "clips" / "pipe.wav")
    record = {"id": "s999-fifo", "file": "clips/pipe.wav", "choices": ["red"], "answer": "red", "kind": "odd"}
    with (harness.data / "items.jsonl").open("a") as items:
        items.write(json.dumps(record) + "\n")
    output = tmp_path / "runs"
    stopped: list[float] = []

    def interrupt_once_generating(process: subprocess.Popen[bytes]) -> None:
        try:  # the manifest is written once every clip is probed, just before the (slow) model starts
            wait_for(lambda: list(output.rglob("manifest.json")), timeout_s=60)
        except TimeoutError:
            process.kill()
            raise
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        stopped.append(time.monotonic() - started)

    interrupted = harness.run(output, env={"CRASHY_DELAY": "30"}, started=interrupt_once_generating)
    assert interrupted.returncode == 130, interrupted.stderr
    assert "interrupted: every finished sample is saved" in interrupted.stdout
    assert stopped[0] < 10
    finished = harness.run(output)
    assert finished.returncode == 0, finished.stderr
    fifo = next(r for r in lines(output) if r["sample_id"] == "s999-fifo")
    assert fifo["error_stage"] == "audio" and fifo["error"].startswith("audio path is not a regular file (a FIFO)")


# ---------------------------------------------------------------------------------------------
# Killed while the LLM judge scores the outputs


def _verdict_for(request: ReceivedRequest) -> Reply:
    """A deterministic rating per prompt, so that every run gets the same verdicts."""
    rating = 1 + sum(request.prompt.encode()) % 5
    return Reply(texts=[str(rating), str(6 - rating), "[[3]]"], delay_s=0.005)


@pytest.fixture
def judge(tmp_path: Path) -> Iterator[ChatServer]:
    with running(_verdict_for) as server:
        yield server


def _judge_env(judge: ChatServer, cache: Path) -> dict[str, str]:
    return {
        "DIFFA_EVAL_JUDGE_BASE_URL": judge.url,
        "DIFFA_EVAL_JUDGE_MODEL": "judge",
        "DIFFA_EVAL_JUDGE_API_KEY": "",
        "OPENAI_API_KEY": "",
        "DIFFA_EVAL_CACHE_DIR": str(cache),
    }


def _cached_prompts(cache: Path) -> set[str]:
    return {json.loads(path.read_text())["request"]["prompt"] for path in cache.rglob("*.json")}


def test_sigkill_during_judge_scoring_resumes_without_asking_again_for_cached_verdicts(
    harness: Harness, judge: ChatServer, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    done = harness.run(reference, task="crashy_judge", env=_judge_env(judge, tmp_path / "reference-cache"))
    assert done.returncode == 0, done.stderr
    prompts = len(judge.requests)
    assert prompts == N_SAMPLES - 2  # the two failed samples have nothing to judge
    judge.requests.clear()

    cache = tmp_path / "cache"
    output = tmp_path / "runs"
    rng = random.Random(SEED)
    kill_at = sorted(rng.sample(range(1, prompts), 4))  # the first request of a run at or past each kills it
    thresholds = list(kill_at)
    target: dict[str, subprocess.Popen[bytes]] = {}
    lock = threading.Lock()

    def killing(request: ReceivedRequest) -> Reply:
        with lock:
            if thresholds and len(judge.requests) >= thresholds[0] and "process" in target:
                thresholds.pop(0)
                target.pop("process").send_signal(signal.SIGKILL)
        return _verdict_for(request)

    judge.script = killing
    kills = 0
    for _ in range(len(kill_at) + 1):
        before = _cached_prompts(cache)
        asked_before = len(judge.requests)
        attempt = harness.run(
            output, task="crashy_judge", env=_judge_env(judge, cache), started=lambda p: target.update(process=p)
        )
        asked = {request.prompt for request in judge.requests[asked_before:]}
        assert not asked & before, "a cached verdict was asked for again"
        if attempt.returncode == 0:
            break
        assert attempt.killed
        kills += 1
    assert kills == len(kill_at)
    _assert_same_as(reference, output)
    per_prompt = Counter(judge.prompts())
    assert len(per_prompt) == prompts
    assert sum(per_prompt.values()) - prompts <= kills * 4  # at most the requests in flight at each kill
    print(f"\n{kills} kills during judge scoring; {sum(per_prompt.values())} requests for {prompts} verdicts")


def test_ctrl_c_during_judge_scoring_stops_within_seconds_and_keeps_every_cached_verdict(
    harness: Harness, judge: ChatServer, tmp_path: Path
) -> None:
    answered = 6  # the judge answers this many requests, then stalls every request for minutes

    def stalling(request: ReceivedRequest) -> Reply:
        return _verdict_for(request) if len(judge.requests) <= answered else Reply(delay_s=600)

    judge.script = stalling
    cache, output = tmp_path / "cache", tmp_path / "runs"
    process = subprocess.Popen(
        harness.command(output, "crashy_judge"),
        env={**harness.env, **_judge_env(judge, cache), "CRASHY_KILL_AT": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: len(judge.requests) >= answered + 4 and len(_cached_prompts(cache)) == answered, 60)
        cached = _cached_prompts(cache)
        stalled = len(judge.requests) - answered
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        took = time.monotonic() - interrupted
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr.decode(errors="replace")
    assert took < 5, f"Ctrl-C took {took:.1f} s to stop the run"
    assert b"interrupted" in stdout
    assert _cached_prompts(cache) == cached and len(cached) == answered

    judge.script = _verdict_for
    asked_before = len(judge.requests)
    again = harness.run(output, task="crashy_judge", env=_judge_env(judge, cache))
    assert again.returncode == 0, again.stderr
    asked = [request.prompt for request in judge.requests[asked_before:]]
    assert not set(asked) & cached and len(asked) == N_SAMPLES - 2 - answered
    print(f"\nCtrl-C with {stalled} stalled judge requests in flight stopped the run in {took:.2f} s")


# ---------------------------------------------------------------------------------------------
# Two shard processes writing one run directory


@pytest.mark.skipif(
    "shard" not in {field.name for field in dataclasses.fields(RunOptions)}, reason="needs `diffa-eval run --shard`"
)
def test_two_shards_killed_while_writing_concurrently_resume_to_the_uninterrupted_run(
    harness: Harness, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    assert harness.run(reference).returncode == 0
    output = tmp_path / "sharded"
    rng = random.Random(SEED)
    kills = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(max(3, KILL_POINTS // 6)):
            # each shard dies at one of its next few record appends (before, half-way through or after
            # the write), while the other shard is writing into the same file
            points = [KillPoint("append", rng.randint(1, 4), rng.choice(PHASES)) for _ in range(2)]
            futures = [pool.submit(harness.run, output, kill=points[i], extra=("--shard", f"{i}/2")) for i in range(2)]
            attempts = [future.result() for future in futures]
            kills += sum(attempt.killed for attempt in attempts)
            for attempt in attempts:
                assert attempt.killed or attempt.returncode == 0, attempt.stderr
    for index in range(2):
        finished = harness.run(output, extra=("--shard", f"{index}/2"))
        assert finished.returncode == 0, finished.stderr
    harness.calls.unlink(missing_ok=True)
    whole = harness.run(output)  # the unsharded command finds every sample recorded by the shards
    assert whole.returncode == 0, whole.stderr
    assert set(harness.generated()) <= {"s005-raises"}
    _assert_same_as(reference, output)
    assert kills >= 2
