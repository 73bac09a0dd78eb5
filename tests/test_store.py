"""The run directory survives crashes: atomic files, append-only records, torn-line repair, a lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diffa_eval.errors import StoreError
from diffa_eval.files import atomic_write_text
from diffa_eval.store import RunStore, SampleRecord, read_records

from .crash_harness import wait_for


def _record(key: str, **fields: object) -> SampleRecord:
    return SampleRecord(key=key, sample_id=f"id-{key}", **fields)  # type: ignore[arg-type]


def test_atomic_write_replaces_the_whole_file_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_atomic_write_uses_ordinary_file_permissions(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_records_are_appended_and_the_latest_per_key_wins(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run") as store:
        store.append(_record("a", error="model crashed", error_stage="model"))
        store.append(_record("b", output="yes", score=1.0))
        store.append(_record("a", output="no", score=0.0))
        records = store.records()
    assert list(records) == ["b", "a"]
    assert records["a"].output == "no" and not records["a"].failed


def test_a_torn_last_line_is_cut_off_on_reopen(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunStore(run) as store:
        store.append(_record("a", output="x", score=1.0))
    with (run / "samples.jsonl").open("a") as handle:
        handle.write('{"key": "b", "sample_id": "id-b", "outp')  # a process killed mid-write
    assert [r.key for r in read_records(run / "samples.jsonl")] == ["a"]
    with RunStore(run) as store:
        store.append(_record("c", output="y", score=0.0))
        assert list(store.records()) == ["a", "c"]
    lines = (run / "samples.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "c"]


def test_compact_keeps_one_record_per_key_in_plan_order(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run") as store:
        for key in ["c", "a", "b", "a", "z"]:
            store.append(_record(key, output=key))
        store.append(SampleRecord(key="old-b", sample_id="id-b", error="audio file not found", error_stage="audio"))
        store.compact({"a": "id-a", "b": "id-b", "c": "id-c"})
        store.append(_record("d"))
    keys = [json.loads(line)["key"] for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    # "z" (another sample, e.g. beyond --limit) is kept; "old-b" (sample b before its audio changed) is not
    assert keys == ["a", "b", "c", "z", "d"]


def test_only_one_process_may_write_a_run(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run"), pytest.raises(StoreError, match="in use by another diffa-eval process"):
        RunStore(tmp_path / "run").open()
    with RunStore(tmp_path / "run"):  # released on close
        pass


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_output_directory_fails_with_a_clear_message(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="cannot write to run directory"):
            RunStore(locked / "run").open()
    finally:
        locked.chmod(0o700)


def test_an_output_path_that_is_a_file_fails_with_a_clear_message(tmp_path: Path) -> None:
    blocker = tmp_path / "results"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot write to run directory"):
        RunStore(blocker / "run").open()


# Temporary files left by killed atomic writes

_ATOMIC_WRITER = """
import os, signal, sys, time
from pathlib import Path
from diffa_eval import files

# Stop between writing the temporary file and renaming it: killed there, or still at work.
os.fsync = (lambda fd: os.kill(os.getpid(), signal.SIGKILL)) if sys.argv[2] == "killed" else (lambda fd: time.sleep(60))
files.atomic_write_text(Path(sys.argv[1]) / "samples.jsonl", "a full copy of samples.jsonl\\n" * 1000)
"""


def _temporaries(run: Path) -> set[str]:
    return {path.name for path in run.glob(".*.tmp")}


@pytest.mark.skipif(os.name != "posix", reason="kills processes with SIGKILL")
@pytest.mark.parametrize("shared", [False, True], ids=["exclusive", "shard"])
def test_opening_a_run_removes_the_temporary_files_of_killed_writes_and_keeps_those_of_live_writers(
    tmp_path: Path, shared: bool
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    killed = subprocess.run([sys.executable, "-c", _ATOMIC_WRITER, str(run), "killed"], timeout=60)
    assert killed.returncode == -signal.SIGKILL
    (left,) = _temporaries(run)
    live = subprocess.Popen([sys.executable, "-c", _ATOMIC_WRITER, str(run), "live"])
    try:
        wait_for(lambda: len(_temporaries(run)) == 2)
        (writing,) = _temporaries(run) - {left}
        hour_ago = time.time() - 3700
        other_host = {".manifest.json.42@node-2.0123abcd.tmp": False, ".plan.json.99@node-2.4567cdef.tmp": True}
        older_version = {".metrics.json.4242.89abcdef.tmp": False, ".samples.jsonl.4243.fedcba98.tmp": True}
        for name, old in {**other_host, **older_version}.items():
            (run / name).write_text("{")
            if old:
                os.utime(run / name, (hour_ago, hour_ago))
        (run / ".notes.tmp").write_text("not ours")
        with RunStore(run, shared=shared):
            remaining = _temporaries(run)
        assert live.poll() is None, "the live writer is still writing"
    finally:
        live.kill()
        live.wait()
    assert left not in remaining, "a dead writer's file on this host goes at once"
    assert writing in remaining, "a live writer's file stays"
    recent = {name for name, old in {**other_host, **older_version}.items() if not old}
    assert remaining == {writing, ".notes.tmp", *recent}, "other hosts' and unnamed hosts' files go after an hour"
