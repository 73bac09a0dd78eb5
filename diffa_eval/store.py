"""The run directory: manifest.json, samples.jsonl and metrics.json, safe against `kill -9`.

samples.jsonl is append-only: each finished sample's record is written as one line and
flushed at once. manifest.json and metrics.json are replaced atomically (write, fsync,
rename). A crash can at worst leave a partial last line in samples.jsonl, which is cut off
when the run is reopened, so that sample is simply produced again. When a sample is
recorded more than once (a failed sample retried on resume), the last record wins, and
`compact` rewrites the file with one record per sample.

Several processes (shards of one run) may write the same directory when each opens it with
`shared=True`: every append then happens under a lock on `.records.lock`, after cutting any
partial line a killed writer left, so no live writer's line is ever cut or interleaved.

An atomic write goes through a hidden temporary file, `.<name>.<pid>@<host>.<random>.tmp`; a writer
killed before its rename leaves it behind, and opening the run removes those that are stale (see
`files.remove_stale_temporaries`).

One module on purpose: the record format, its reading, and the locking and cutting rules that keep it
whole are one contract, and reading it apart from the writing would let them drift (generic safe-write
helpers live in `files`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .describe import EvalRun
from .errors import StoreError
from .files import atomic_write_text, remove_stale_temporaries, unicode_safe, writing
from .scoring.aggregate import ScoredSample
from .types import RunCost, Score, TaskMetrics

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
METRICS = "metrics.json"
PLAN = "plan.json"
_LOCK = ".lock"
_RECORDS_LOCK = ".records.lock"


@dataclass(frozen=True)
class SampleRecord:
    """One line of samples.jsonl: a sample's output, score, timings, or its failure."""

    key: str
    """Resume key: hash of (model spec, generation config, task name + version, prompt variant, sample id,
    the request the model sees, audio hash and window): what decides the output."""
    sample_id: str
    prompt: str | None = None
    output: str | None = None
    extracted: str | None = None
    score: float | None = None
    score_details: Mapping[str, float] = field(default_factory=dict)
    explanation: str | None = None
    judgement: Mapping[str, Any] | None = None
    """The judge's model, prompt hash and replies, for judge-scored tasks."""
    pending: str | None = None
    """Why the output has no score yet although nothing failed (e.g. no judge configured)."""
    reference: str | None = None
    groups: Mapping[str, str] = field(default_factory=dict)
    generated_tokens: int | None = None
    forward_passes: int | None = None
    seconds: float | None = None
    encode_seconds: float | None = None
    decode_seconds: float | None = None
    model_details: Mapping[str, Any] = field(default_factory=dict)
    audio_seconds: float | None = None
    audio_sha256: str | None = None
    audio_truncated_to: float | None = None
    """Seconds of audio the model was given, when the audio was longer than its window and cut."""
    error: str | None = None
    error_stage: str | None = None
    """Where a failure happened: `audio`, `model` or `scoring`."""
    score_inputs: str | None = None
    """Hash of what decides the score besides the output (reference, choices, the benchmark's fields):
    when it changes, the stored output is scored again."""
    audio_path: str | None = None
    """The audio file the sample was read from, when it is a file on disk (reports link to it); not part of
    the key, so a copy of the data in another folder is still the same sample."""

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def needs_output(self) -> bool:
        """True when the model must produce this sample again: it failed before scoring."""
        return self.failed and self.error_stage != "scoring"

    @property
    def needs_score(self) -> bool:
        """True when the stored output waits to be scored, or its scoring failed."""
        return self.output is not None and (self.pending is not None or self.error_stage == "scoring")

    def to_json(self) -> str:
        """One line of JSON; lone surrogates (text that was never valid Unicode) become U+FFFD."""
        return unicode_safe(json.dumps(asdict(self), ensure_ascii=False, allow_nan=False))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleRecord:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def scored(self) -> ScoredSample:
        """This record as aggregation input; a failed sample has no score."""
        if self.failed or self.pending is not None:
            return ScoredSample(None, self.groups, pending=self.pending is not None and not self.failed)
        score = Score(self.score, self.extracted, self.score_details, self.explanation, self.judgement)
        return ScoredSample(score, self.groups)


def run_cost(records: Iterable[SampleRecord]) -> RunCost:
    """Compute totals over the records that hold an output; a count no record gives stays None."""
    produced = [record for record in records if record.output is not None]

    def total(values: list[float | int | None]) -> float | None:
        known = [value for value in values if value is not None]
        return sum(known) if known else None

    tokens = total([record.generated_tokens for record in produced])
    passes = total([record.forward_passes for record in produced])
    return RunCost(
        samples=len(produced),
        seconds=round(float(total([record.seconds for record in produced]) or 0.0), 6),
        generated_tokens=None if tokens is None else int(tokens),
        forward_passes=None if passes is None else int(passes),
        audio_seconds=total([record.audio_seconds for record in produced]),
    )


def _json_text(data: Any) -> str:
    return unicode_safe(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)) + "\n"


def read_records(path: Path) -> Iterator[SampleRecord]:
    """Records of a samples.jsonl in file order; a torn last line and unreadable lines are skipped."""
    if not path.exists():
        return
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith("\n"):
                break  # torn write from a crash: the sample will be produced again
            if not line.strip():
                continue
            try:
                yield SampleRecord.from_dict(json.loads(line))
            except (ValueError, TypeError) as error:
                log.warning("%s:%d: skipping unreadable record (%s)", path, number, error)


def latest_records(records: Iterable[SampleRecord]) -> dict[str, SampleRecord]:
    """key -> the last record written for it."""
    latest: dict[str, SampleRecord] = {}
    for record in records:
        latest.pop(record.key, None)  # keep first-seen order stable, value from the last write
        latest[record.key] = record
    return latest


class RunStore:
    """Writer of one run directory; use as a context manager.

    By default the writer is exclusive. With `shared=True` any number of shared writers (the
    shards of one run) may write at once, each append under the records lock; exclusive and
    shared writers exclude each other.
    """

    def __init__(self, directory: Path, shared: bool = False) -> None:
        self.directory = directory
        self.shared = shared
        self._lock: IO[str] | None = None
        self._samples: IO[str] | None = None
        self._records_lock: IO[str] | None = None
        self._records_lock_depth = 0

    @property
    def samples_path(self) -> Path:
        return self.directory / SAMPLES

    def __enter__(self) -> RunStore:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = (self.directory / _LOCK).open("a+")
        except OSError as error:
            raise StoreError(f"cannot write to run directory {self.directory}: {error.strerror or error}") from None
        self._acquire_lock()
        try:
            if self.shared:
                self._records_lock = (self.directory / _RECORDS_LOCK).open("a+")
                with self.locked():
                    self._cut_torn_tail()
                    remove_stale_temporaries(self.directory)
                return
            self._cut_torn_tail()
            remove_stale_temporaries(self.directory)
            self._samples = self.samples_path.open("a", encoding="utf-8")
        except OSError as error:
            self.close()
            raise StoreError(f"cannot write {self.samples_path}: {error.strerror or error}") from None

    def _acquire_lock(self) -> None:
        assert self._lock is not None
        try:
            import fcntl

            fcntl.flock(self._lock.fileno(), (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except ImportError:  # no advisory locks on this platform
            return
        except OSError:
            self.close()
            shards = "; shards of a run (--shard, torchrun) may share it, but not with an unsharded run or a merge"
            raise StoreError(
                f"run directory {self.directory} is in use by another diffa-eval process; "
                "wait for it to finish or use another --output-dir" + shards
            ) from None

    def _cut_torn_tail(self) -> None:
        path = self.samples_path
        if not path.exists() or path.stat().st_size == 0:
            return
        with path.open("rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            keep = handle.read().rfind(b"\n") + 1
            handle.truncate(keep)
            log.warning("%s: removed a partial record left by an interrupted run", path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the records lock: no shared writer of this directory appends, compacts or finishes
        the run meanwhile. Re-entrant; a no-op for an exclusive writer, which is alone anyway."""
        if self._records_lock is None:
            yield
            return
        if self._records_lock_depth == 0:
            _flock(self._records_lock, exclusive=True)
        self._records_lock_depth += 1
        try:
            yield
        finally:
            self._records_lock_depth -= 1
            if self._records_lock_depth == 0:
                _flock(self._records_lock, exclusive=False)

    def close(self) -> None:
        if self._samples is not None:
            with contextlib.suppress(OSError):  # a flush that fails again (disk still full) has been reported
                self._samples.close()
            self._samples = None
        if self._records_lock is not None:
            self._records_lock.close()
            self._records_lock = None
            self._records_lock_depth = 0
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    def records(self) -> dict[str, SampleRecord]:
        """key -> latest record."""
        return latest_records(read_records(self.samples_path))

    def append(self, record: SampleRecord) -> None:
        """Write one record and flush it to the OS, so that a killed process keeps it."""
        if self.shared:
            self._append_shared([record])
            return
        if self._samples is None:
            raise StoreError("run store is not open")
        with writing(self.samples_path):
            self._samples.write(record.to_json() + "\n")
            self._samples.flush()

    def append_all(self, records: Iterable[SampleRecord]) -> None:
        """Write several records (in one locked append for a shared writer)."""
        if self.shared:
            self._append_shared(list(records))
            return
        for record in records:
            self.append(record)

    def _append_shared(self, records: list[SampleRecord]) -> None:
        if self._lock is None:
            raise StoreError("run store is not open")
        if not records:
            return
        text = "".join(record.to_json() + "\n" for record in records)
        with self.locked():
            # Under the lock every other writer's lines are complete, so an unterminated tail can only be
            # a writer killed mid-line. The file is opened afresh each time: another writer may have
            # replaced it (compaction), and a fresh open sees its true size on network filesystems too.
            self._cut_torn_tail()
            with self.samples_path.open("a", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()

    def sync(self) -> None:
        """Ask the OS to put appended records on disk (survives power loss, not just a crash)."""
        if self._samples is not None:
            with writing(self.samples_path):
                os.fsync(self._samples.fileno())
        elif self.shared and self.samples_path.exists():
            with writing(self.samples_path), self.samples_path.open("rb") as handle:
                os.fsync(handle.fileno())

    def write_manifest(self, run: EvalRun) -> None:
        with writing(self.directory / MANIFEST):
            atomic_write_text(self.directory / MANIFEST, _json_text(run.to_dict()))

    def write_metrics(self, metrics: TaskMetrics) -> None:
        with writing(self.directory / METRICS):
            atomic_write_text(self.directory / METRICS, _json_text(metrics.to_dict()))

    def write_plan(self, plan: Mapping[str, str]) -> None:
        """Record the run's samples (resume key -> sample id, in dataset order), so that the run can be
        checked for missing samples and its metrics recomputed without loading the dataset."""
        samples = [{"key": key, "sample_id": sample_id} for key, sample_id in plan.items()]
        with writing(self.directory / PLAN):
            atomic_write_text(self.directory / PLAN, _json_text({"samples": samples}))

    def compact(self, plan: Mapping[str, str], latest: Mapping[str, SampleRecord] | None = None) -> None:
        """Rewrite samples.jsonl with one (the latest) record per key.

        `plan` maps the keys of the samples just run to their sample ids, in order; their
        records come first. Records of other samples (e.g. beyond a --limit) are kept; records
        of a planned sample under another key (its audio or its model input has changed since) are dropped.
        `latest`: the records as a caller holding the lock has just read them (read here otherwise).
        """
        with self.locked():  # shared writers open the file afresh for each append, so they see the new one
            latest = self.records() if latest is None else latest
            planned_ids = {unicode_safe(sample_id) for sample_id in plan.values()}  # as records store them
            keys = [key for key in plan if key in latest]
            keys += [k for k, record in latest.items() if k not in plan and record.sample_id not in planned_ids]
            text = "".join(latest[key].to_json() + "\n" for key in keys)
            if self._samples is not None:
                self._samples.close()
                self._samples = None
            with writing(self.samples_path):
                atomic_write_text(self.samples_path, text)
                if not self.shared:
                    self._samples = self.samples_path.open("a", encoding="utf-8")


@dataclass(frozen=True)
class StoredRun:
    """A run directory as reports read it."""

    directory: Path
    manifest: EvalRun
    metrics: TaskMetrics | None

    def records(self) -> list[SampleRecord]:
        """The run's records: those of its planned samples (records of other samples, e.g. beyond a
        --limit or of an earlier dataset, stay in samples.jsonl for reuse but are not part of the run)."""
        records = latest_records(read_records(self.directory / SAMPLES))
        plan = read_plan(self.directory)
        return [record for key, record in records.items() if plan is None or key in plan]


def read_plan(directory: Path) -> dict[str, str] | None:
    """The run's planned samples (resume key -> sample id, in dataset order); None when it has no plan.json."""
    try:
        data = json.loads((directory / PLAN).read_text(encoding="utf-8"))
        return {str(item["key"]): str(item["sample_id"]) for item in data["samples"]}
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        raise StoreError(f"unreadable {directory / PLAN}: {error}") from None


def _flock(handle: IO[str], exclusive: bool) -> None:
    try:
        import fcntl
    except ImportError:  # no advisory locks on this platform
        return
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_UN)


def read_run(directory: Path) -> StoredRun:
    """Read a run directory's manifest and metrics (metrics are None until the run completes)."""
    try:
        manifest = EvalRun.from_dict(json.loads((directory / MANIFEST).read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise StoreError(f"not a run directory (no {MANIFEST}): {directory}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise StoreError(f"unreadable {directory / MANIFEST}: {error}") from None
    metrics_path = directory / METRICS
    metrics = None
    if metrics_path.exists():
        try:
            metrics = TaskMetrics.from_dict(json.loads(metrics_path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as error:
            raise StoreError(f"unreadable {metrics_path}: {error}") from None
    return StoredRun(directory, manifest, metrics)


def find_runs(paths: Iterable[Path]) -> list[StoredRun]:
    """Every run directory at or below the given paths, sorted by path."""
    found: dict[Path, None] = {}
    for path in paths:
        if not path.exists():
            raise StoreError(f"no such file or directory: {path}")
        if (path / MANIFEST).exists():
            found[path] = None
        elif path.is_dir():
            for manifest in sorted(path.rglob(MANIFEST)):
                found[manifest.parent] = None
    return [read_run(directory) for directory in sorted(found)]
