"""Fault injection for `diffa-eval run` subprocesses: a slow deterministic plugin model and task, and kill points.

A `Harness` writes, under a test's tmp folder, an installed-looking plugin distribution (model `crashy`,
the scripted model of tests/mock_model.py loaded through a model entry point) and a task file (`crashy`,
scored offline, and `crashy_judge`, scored by the VoiceBench open-ended LLM judge) over `n_samples` tiny
audio clips, of which one is corrupt and one makes the model raise, so that failure records and their
retries are part of every comparison.

Kills are aimed two ways:

* `KillPoint(target, occurrence, phase)`: the plugin wraps `RunStore.append` (one record) and
  the store's `atomic_write_text` (manifest.json, metrics.json, and samples.jsonl when the run
  is compacted) and the process SIGKILLs itself at the chosen call: `before` it writes, in the
  `middle` (half a record line flushed, or half of the temporary file written and not renamed), or
  `after` it returns. Each kill is logged to `kills.log` first, so a test can tell which windows it hit.
* `kill_after_s`: the harness SIGKILLs the process from outside after a delay, which lands anywhere,
  mostly in model work and audio decoding.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from .mock_model import answered, plugin_source, site_with_plugin

TIMINGS = ("seconds", "encode_seconds", "decode_seconds")
TARGETS = ("append", "manifest.json", "samples.jsonl", "metrics.json")
PHASES = ("before", "middle", "after")

PRELUDE = '''
    """Kill points at the store's writes (see tests/crash_harness.py), and the scripted model's answer rule."""
    import hashlib
    import os
    import signal
    from pathlib import Path

    from diffa_eval import files, store

    DELAY = float(os.environ.get("CRASHY_DELAY", "0"))
    KILL_AT = os.environ.get("CRASHY_KILL_AT", "")  # "target:occurrence:phase"
    _seen = {}


    def _checkpoint(target, phase):
        if not KILL_AT:
            return False
        name, occurrence, when = KILL_AT.split(":")
        if name != target or when != phase:
            return False
        return _seen.get(target, 0) == int(occurrence)


    def _die(target, phase):
        with open(os.environ["CRASHY_KILLS"], "a") as log:
            log.write(f"{target}:{_seen[target]}:{phase}\\n")
        os.kill(os.getpid(), signal.SIGKILL)


    _append = store.RunStore.append
    _atomic = store.atomic_write_text


    def append(self, record):
        _seen["append"] = _seen.get("append", 0) + 1
        if _checkpoint("append", "before"):
            _die("append", "before")
        if _checkpoint("append", "middle"):
            line = record.to_json() + "\\n"
            with self.locked():  # a shared writer appends under the records lock, and dies holding it
                handle = self._samples or open(self.samples_path, "a", encoding="utf-8")
                handle.write(line[: len(line) // 2])
                handle.flush()
                _die("append", "middle")
        _append(self, record)
        if _checkpoint("append", "after"):
            _die("append", "after")


    def append_all(self, records):  # one record at a time, so that every append is a kill point
        for record in records:
            append(self, record)


    def atomic_write_text(path, text):
        target = path.name
        _seen[target] = _seen.get(target, 0) + 1
        if _checkpoint(target, "before"):
            _die(target, "before")
        if _checkpoint(target, "middle"):
            temporary = files.temporary_path(path)
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(text[: len(text) // 2])
            _die(target, "middle")
        _atomic(path, text)
        if _checkpoint(target, "after"):
            _die(target, "after")


    store.RunStore.append = append
    store.RunStore.append_all = append_all
    store.atomic_write_text = atomic_write_text


    def _answer(request):
        pick = int(hashlib.sha256(request.sample_id.encode()).hexdigest(), 16)
        return f"{request.choices[pick % len(request.choices)]} ({request.sample_id})"
'''
PLUGIN = plugin_source(
    'Script(name="crashy", answer=_answer, raise_on=lambda sample_id: sample_id.endswith("-raises"), '
    'raise_message="this sample always makes the model raise", delay_s=DELAY, generated_tokens=1, seconds=DELAY, '
    'call_log=Path(os.environ["CRASHY_CALLS"]))',
    prelude=PRELUDE,
)
"""A slow deterministic scripted model whose process kills itself at a chosen store write; the sample whose id
ends in "-raises" always makes its batch raise; every answered batch is logged to CRASHY_CALLS."""

TASK_FILE = textwrap.dedent('''
    """Tasks over the harness's clips: `crashy` scored offline, `crashy_judge` scored by the LLM judge."""
    import json
    import os
    from pathlib import Path

    from diffa_eval.scoring.metrics import Accuracy, MeanScore
    from diffa_eval.task import LoadedData, Task, builtin_module, register_task
    from diffa_eval.types import AudioRef, DatasetInfo, Sample, Score

    DATA = Path(os.environ["CRASHY_DATA"])


    class Crashy(Task):
        version = 1
        description = "Crash-test items."
        splits = ("test",)
        breakdown_fields = ("kind",)

        def __init__(self, name, judged):
            self.name = name
            if judged:
                self.scorer = builtin_module("voicebench.scorers").VoiceBenchOpenJudge()
                self.metrics = (MeanScore("gpt_score"),)
            else:
                self.metrics = (Accuracy(),)

        def load(self, split, data_dir=None):
            records = [json.loads(line) for line in (DATA / "items.jsonl").read_text().splitlines()]
            return LoadedData([self.sample_from_record(r, DATA) for r in records], DatasetInfo("local", str(DATA)))

        def sample_from_record(self, record, base_dir=None):
            fields = dict(record, prompt=f"Which colour is clip {record['id']}?")
            return Sample(record["id"], AudioRef(path=str(base_dir / record["file"])), record["answer"],
                          tuple(record["choices"]), fields)

        def prompt(self, sample):
            return sample.fields["prompt"]

        def score(self, sample, prediction):
            return Score(float(prediction.startswith(sample.reference)), prediction.split(" ")[0])


    register_task(Crashy("crashy", judged=False))
    register_task(Crashy("crashy_judge", judged=True))
''')

COLOURS = ("red", "green", "blue")


@dataclass(frozen=True)
class KillPoint:
    """Kill the run at the `occurrence`-th call (1-based) that writes `target`, in `phase`."""

    target: str
    occurrence: int
    phase: str

    def __str__(self) -> str:
        return f"{self.target}:{self.occurrence}:{self.phase}"


@dataclass(frozen=True)
class Attempt:
    returncode: int
    killed: bool
    stdout: str
    stderr: str


class Harness:
    """Plugin, task file and data under `root`; runs `diffa-eval run` on them."""

    def __init__(self, root: Path, n_samples: int = 30, delay_s: float = 0.004, batch_size: int = 4) -> None:
        self.root = root
        self.n_samples = n_samples
        self.batch_size = batch_size
        site = site_with_plugin(root / "site", "crashy", "crashy", PLUGIN)
        self.tasks_dir = root / "tasks"
        self.tasks_dir.mkdir()
        (self.tasks_dir / "crashy_tasks.py").write_text(TASK_FILE)
        self.data = root / "data"
        self.sample_ids = self._write_data(n_samples)
        self.calls = root / "calls.log"
        self.kills = root / "kills.log"
        self.env = dict(os.environ)
        self.env.update(
            PYTHONPATH=os.pathsep.join([str(site), self.env.get("PYTHONPATH", "")]),
            CRASHY_DATA=str(self.data),
            CRASHY_DELAY=str(delay_s),
            CRASHY_CALLS=str(self.calls),
            CRASHY_KILLS=str(self.kills),
        )

    def _write_data(self, n: int) -> list[str]:
        """`n` clips of different lengths (so batches are sorted), one corrupt and one that makes the model raise."""
        (self.data / "clips").mkdir(parents=True)
        rng = np.random.default_rng(7)
        records = []
        for index in range(n):
            sample_id = f"s{index:03d}" + ("-raises" if index == 5 else "")
            path = self.data / "clips" / f"{sample_id}.wav"
            if index == 3:
                path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEnot really audio")
            else:
                seconds = 0.05 + 0.01 * int(rng.integers(0, 20))
                soundfile.write(path, (0.1 * rng.standard_normal(int(16_000 * seconds))).astype(np.float32), 16_000)
            answer = COLOURS[index % 3]
            records.append({"id": sample_id, "file": f"clips/{path.name}", "choices": COLOURS, "answer": answer,
                            "kind": "even" if index % 2 == 0 else "odd"})  # fmt: skip
        (self.data / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        return [r["id"] for r in records]

    def command(self, output: Path, task: str = "crashy", extra: Sequence[str] = ()) -> list[str]:
        return [
            sys.executable, "-m", "diffa_eval", "run", "--models", "crashy", "--tasks", task, "--tasks-dir",
            str(self.tasks_dir), "--batch-size", str(self.batch_size), "--output-dir", str(output), "--quiet",
            "--max-failures", "1", *extra,
        ]  # fmt: skip

    def run(
        self,
        output: Path,
        task: str = "crashy",
        kill: KillPoint | None = None,
        kill_after_s: float | None = None,
        extra: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        started: Callable[[subprocess.Popen[bytes]], None] | None = None,
    ) -> Attempt:
        """One `diffa-eval run`, killed as asked (a kill that comes after the run ends does nothing)."""
        environment = {**self.env, **(env or {}), "CRASHY_KILL_AT": str(kill) if kill else ""}
        process = subprocess.Popen(
            self.command(output, task, extra), env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        if started is not None:
            started(process)
        if kill_after_s is not None:
            try:
                process.wait(timeout=kill_after_s)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=120)
        code = process.returncode
        return Attempt(code, code == -signal.SIGKILL, stdout.decode(errors="replace"), stderr.decode(errors="replace"))

    def generated(self) -> dict[str, int]:
        """Sample id -> how many answers the model gave for it (the raising sample: how often it raised)."""
        return answered(self.calls)

    def kill_log(self) -> list[str]:
        return self.kills.read_text().splitlines() if self.kills.exists() else []


def run_dir(output: Path) -> Path:
    (manifest,) = output.rglob("manifest.json")
    return manifest.parent


def lines(output: Path) -> list[dict[str, Any]]:
    """Every line of the run's samples files, in file order (after compaction: one per sample)."""
    found: list[dict[str, Any]] = []
    for path in sorted(run_dir(output).glob("samples*.jsonl")):
        found += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return found


def comparable(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sample id -> record without its timings."""
    return {str(r["sample_id"]): {k: v for k, v in r.items() if k not in TIMINGS} for r in records}


def metrics(output: Path) -> dict[str, Any]:
    """metrics.json without the time the model took (which differs between runs)."""
    data: dict[str, Any] = json.loads((run_dir(output) / "metrics.json").read_text())
    if data.get("cost"):
        data["cost"] = {k: v for k, v in data["cost"].items() if k not in TIMINGS}
    return data


def wait_for(predicate: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.005)
