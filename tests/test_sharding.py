"""Sharded runs: shards (--shard I/N, torchrun ranks) end with exactly what one process would have written.

Every shard writes into one run directory (or into its own output folder, then `merge --into`);
a changed number of shards resumes what any earlier shard recorded; concurrent writers never
lose or duplicate a record.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.errors import ConfigError, StoreError
from diffa_eval.run import RunOptions, RunOutcome, evaluate
from diffa_eval.run.sharding import ShardSpec, TorchrunEnv, shard_of
from diffa_eval.store import RunStore, SampleRecord, read_records
from diffa_eval.task import resolve_tasks
from diffa_eval.types import ModelSpec

from .mock_model import plugin_source, site_with_plugin

MODELS = [ModelSpec("chance"), ModelSpec("oracle")]
TASKS = ["mmau_test_mini", "librispeech_test_clean"]
TIMINGS = {"seconds", "encode_seconds", "decode_seconds"}
runner = CliRunner()


def _run(output: Path, shard: str | None = None) -> list[RunOutcome]:
    options = RunOptions(split="sample", output_dir=output, shard=None if shard is None else ShardSpec.parse(shard))
    return evaluate(MODELS, resolve_tasks(TASKS), options)


def _results(output: Path) -> dict[str, tuple[list[dict[str, object]], dict[str, object] | None]]:
    """Run directory (relative) -> (records in file order without timings, metrics.json)."""
    found = {}
    for samples in sorted(output.rglob("samples.jsonl")):
        rows = [{k: v for k, v in json.loads(line).items() if k not in TIMINGS} for line in samples.open()]
        metrics = samples.parent / "metrics.json"
        scores = json.loads(metrics.read_text()) if metrics.exists() else None
        if scores is not None and scores.get("cost"):
            scores["cost"] = {k: v for k, v in scores["cost"].items() if k not in TIMINGS}
        found[str(samples.parent.relative_to(output))] = (rows, scores)
    return found


def _manifests(output: Path) -> dict[str, dict[str, object]]:
    return {str(p.parent.relative_to(output)): json.loads(p.read_text()) for p in output.rglob("manifest.json")}


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: one process, no shards."""
    output = tmp_path_factory.mktemp("single")
    _run(output)
    return output


def test_a_shard_spec_is_i_of_n() -> None:
    assert ShardSpec.parse("2/4") == ShardSpec(2, 4) and str(ShardSpec(2, 4)) == "2/4"
    for bad in ("4/4", "-1/2", "1", "a/b", "0/0"):
        with pytest.raises(ConfigError):
            ShardSpec.parse(bad)


def test_every_sample_belongs_to_exactly_one_shard_whatever_the_count() -> None:
    keys = [f"key-{i}" for i in range(400)]
    for count in (1, 2, 3, 7):
        owners = [[i for i in range(count) if ShardSpec(i, count).owns(key)] for key in keys]
        assert all(len(found) == 1 for found in owners)
        sizes = [sum(1 for found in owners if found == [i]) for i in range(count)]
        assert min(sizes) > 400 / count / 2  # roughly balanced
    assert [shard_of(k, 3) for k in reversed(keys)] == [shard_of(k, 3) for k in keys][::-1]  # order plays no part


def test_shards_in_one_output_dir_end_with_the_single_process_results(tmp_path: Path, single: Path) -> None:
    outcomes = [_run(tmp_path, f"{i}/3") for i in range(3)]
    assert all(o.metrics is None and o.missing > 0 for o in outcomes[0])  # shard 0 alone cannot finish a run
    assert all(o.metrics is not None and o.missing == 0 for o in outcomes[2])  # the last shard finishes each run
    assert _results(tmp_path) == _results(single)
    manifests, reference = _manifests(tmp_path), _manifests(single)
    assert manifests.keys() == reference.keys()  # same run ids, so the same run directories
    assert {m["status"] for m in manifests.values()} == {"complete"}
    assert {m["shards"] for m in manifests.values()} == {3} and {m["shards"] for m in reference.values()} == {None}


def test_shards_in_separate_output_dirs_merged_into_one_equal_the_single_process_results(
    tmp_path: Path, single: Path
) -> None:
    for i in range(2):
        _run(tmp_path / f"node{i}", f"{i}/2")
    merged = tmp_path / "merged"
    result = runner.invoke(app, ["merge", str(tmp_path / "node0"), str(tmp_path / "node1"), "--into", str(merged)])
    assert result.exit_code == 0, result.output
    assert result.output.count("complete") == 4
    assert _results(merged) == _results(single)
    assert {m["status"] for m in _manifests(merged).values()} == {"complete"}


def test_changing_the_shard_count_resumes_and_produces_no_sample_twice(tmp_path: Path, single: Path) -> None:
    generated = 0
    for shard in ("0/3", "1/3", "0/2", "1/2"):
        generated += sum(outcome.generated for outcome in _run(tmp_path, shard))
    planned = sum(len(rows) for rows, _ in _results(single).values())
    assert generated == planned  # 0/2 and 1/2 only ran what 0/3 and 1/3 had left
    result = runner.invoke(app, ["merge", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert _results(tmp_path) == _results(single)


def test_merge_lists_the_missing_samples_and_exits_1(tmp_path: Path) -> None:
    _run(tmp_path, "0/3")
    result = runner.invoke(app, ["merge", str(tmp_path)], terminal_width=400)
    assert result.exit_code == 1
    assert "4 runs miss samples" in result.output
    run = next(tmp_path.glob("oracle/mmau_test_mini-*"))
    plan = json.loads((run / "plan.json").read_text())["samples"]
    absent = [item["sample_id"] for item in plan if not ShardSpec(0, 3).owns(item["key"])]
    line = next(line for line in result.output.splitlines() if line.startswith("oracle · mmau_test_mini"))
    assert f"{10 - len(absent)} samples recorded, {len(absent)} missing: {', '.join(absent)}" in line
    assert not (run / "metrics.json").exists()
    assert json.loads((run / "manifest.json").read_text())["status"] == "running"


def test_merge_keeps_a_successful_record_over_a_failed_one(tmp_path: Path) -> None:
    _run(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    run = next((tmp_path / "b").glob("oracle/mmau_test_mini-*"))
    records = list(read_records(run / "samples.jsonl"))
    failed = SampleRecord(key=records[0].key, sample_id=records[0].sample_id, error="CUDA OOM", error_stage="model")
    with (run / "samples.jsonl").open("a") as handle:
        handle.write(failed.to_json() + "\n")  # the later source, but a failure
    result = runner.invoke(app, ["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--into", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert _results(tmp_path / "m") == _results(tmp_path / "a")


def test_an_unsharded_run_and_shards_cannot_write_one_run_directory_at_once(tmp_path: Path) -> None:
    with (
        RunStore(tmp_path / "run", shared=True),
        RunStore(tmp_path / "run", shared=True),  # shards share it
        pytest.raises(StoreError, match="in use by another diffa-eval process"),
    ):
        RunStore(tmp_path / "run").open()
    with RunStore(tmp_path / "run"), pytest.raises(StoreError, match="in use by another diffa-eval process"):
        RunStore(tmp_path / "run", shared=True).open()


def _append_many(directory: Path, writer: int, count: int) -> None:
    with RunStore(directory, shared=True) as store:
        for i in range(count):
            store.append(SampleRecord(key=f"{writer}-{i}", sample_id=f"{writer}-{i}", output="x" * 20_000))


def test_concurrent_shared_writers_never_interleave_and_a_dead_writers_partial_line_is_cut(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    with RunStore(directory, shared=True) as early:  # opened before the crash, appends after it
        with (directory / "samples.jsonl").open("a") as handle:
            handle.write('{"key": "dead", "sample_id": "dead", "outp')  # a writer killed mid-line
        early.append(SampleRecord(key="early", sample_id="early"))
        context = multiprocessing.get_context("fork")
        writers = [context.Process(target=_append_many, args=(directory, w, 60)) for w in range(3)]
        for process in writers:
            process.start()
        for process in writers:
            process.join(timeout=60)
            assert process.exitcode == 0
    lines = (directory / "samples.jsonl").read_text().splitlines()
    keys = [json.loads(line)["key"] for line in lines]  # every line is a whole record
    assert sorted(keys) == sorted(["early", *(f"{w}-{i}" for w in range(3) for i in range(60))])


def test_torchrun_ranks_are_shards_of_the_run_and_rank_0_owns_the_device_mapping() -> None:
    assert TorchrunEnv.from_environ({}) is None
    assert TorchrunEnv.from_environ({"RANK": "0", "WORLD_SIZE": "1"}) is None  # one process: a plain run
    env = TorchrunEnv.from_environ({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert env is not None and env.shard == ShardSpec(3, 4) and env.local_rank == 1
    assert env.device("cpu") == "cpu"
    with pytest.raises(ConfigError):
        TorchrunEnv.from_environ({"RANK": "4", "WORLD_SIZE": "4"})


@pytest.fixture
def slow_plugin_env(tmp_path: Path) -> dict[str, str]:
    """Model `slow`, the scripted model loaded through an entry point in another process: deterministic and slow
    enough (50 ms per sample) that two shard processes write at once."""
    source = plugin_source('Script(name="slow", delay_s=0.05, reads_reference=True, generated_tokens=1, seconds=0.0)')
    site = site_with_plugin(tmp_path / "site", "slowshard", "slow", source)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "diffa_eval", "run", "--split", "sample", "--batch-size", "1", "--quiet", *args]


@pytest.mark.slow
def test_two_shard_processes_writing_one_run_at_once_record_each_sample_once(
    tmp_path: Path, slow_plugin_env: dict[str, str]
) -> None:
    command = _cli("-m", "slow", "-t", ",".join(TASKS))
    subprocess.run([*command, "--output-dir", str(tmp_path / "single")], env=slow_plugin_env, check=True, timeout=120)
    shards = [
        subprocess.Popen([*command, "--output-dir", str(tmp_path / "shared"), "--shard", f"{i}/2"], env=slow_plugin_env)
        for i in range(2)
    ]
    assert [process.wait(timeout=120) for process in shards] == [0, 0]
    results = _results(tmp_path / "shared")
    assert results == _results(tmp_path / "single")
    for rows, metrics in results.values():
        assert len({row["key"] for row in rows}) == len(rows) and metrics is not None


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None, reason="no torchrun")
def test_torchrun_with_two_gloo_ranks_equals_the_single_process_run(tmp_path: Path, single: Path) -> None:
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    args = ["run", "-m", "chance,oracle", "-t", ",".join(TASKS), "--split", "sample", "--output-dir", str(tmp_path)]
    done = subprocess.run(
        [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "diffa_eval", *args, "--quiet"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("diffa-eval leaderboard") == 1  # only rank 0 reports
    assert _results(tmp_path) == _results(single)
    assert {m["shards"] for m in _manifests(tmp_path).values()} == {2}
    assert {m["status"] for m in _manifests(tmp_path).values()} == {"complete"}


class _Rank:
    """A rank of a world of two whose barrier returns at once: each rank runs alone here, as on two nodes."""

    def __init__(self, rank: int) -> None:
        self.rank, self.world_size = rank, 2

    def barrier(self) -> None:
        pass


def test_ranks_with_node_local_output_dirs_merge_into_the_single_process_results(tmp_path: Path, single: Path) -> None:
    for rank in (1, 0):  # rank 1's node never sees rank 0's manifest
        options = RunOptions(split="sample", output_dir=tmp_path / f"node{rank}")
        evaluate(MODELS, resolve_tasks(TASKS), options, group=_Rank(rank))
    assert _manifests(tmp_path / "node1")  # so that merge finds that node's records
    merged = tmp_path / "merged"
    result = runner.invoke(app, ["merge", str(tmp_path / "node0"), str(tmp_path / "node1"), "--into", str(merged)])
    assert result.exit_code == 0, result.output
    assert _results(merged) == _results(single)
