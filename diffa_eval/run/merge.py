"""Combine the shards of a run: finish it from its records, and report the samples still missing.

`merge_runs(paths)` finishes run directories in place (shards that shared one output folder).
`merge_runs(paths, into=folder)` first gathers run directories of the same run from several output
folders (e.g. one per node-local disk) into one run directory per run under `folder`, keeping for
each sample its best record: a scored one over one waiting for a score over a failed one, and the
later source among equals. Finishing is `diffa_eval.run.finish.finish_run`, the runner's own step, so a
merged run holds what one process would have written (the submission file included); no task code is
loaded, except, for version-1 runs, through the caller's `legacy` description.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import StoreError
from ..store import (
    SAMPLES,
    RunStore,
    SampleRecord,
    StoredRun,
    find_runs,
    latest_records,
    read_plan,
    read_records,
    read_run,
)
from ..types import TaskMetrics
from .finish import LegacyDescription, finish_run
from .submission import SubmissionPlan, read_submission_plan


@dataclass(frozen=True)
class MergeResult:
    """One run directory after a merge."""

    directory: Path
    model: str
    task: str
    split: str
    recorded: int
    """Planned samples that have a record (failed samples included)."""
    missing: tuple[str, ...]
    """Ids of planned samples that no shard has recorded yet, in dataset order."""
    metrics: TaskMetrics | None
    """The recomputed metrics; None while samples are missing."""
    has_plan: bool = True
    """False for a run directory without plan.json (written before sharding existed): its records are
    taken as the whole run, so missing samples cannot be found."""

    @property
    def complete(self) -> bool:
        return not self.missing


def merge_runs(
    paths: Sequence[Path], into: Path | None = None, legacy: LegacyDescription | None = None
) -> list[MergeResult]:
    """Finish every run directory at or below `paths`, or gather them under `into` first. `legacy` describes
    the tasks of version-1 runs (whose manifests hold no description)."""
    runs = find_runs(paths)
    if not runs:
        raise StoreError(f"no run directories under {', '.join(map(str, paths))}")
    if into is None:
        return [merge_run(run.directory, legacy) for run in runs]
    groups: dict[Path, list[StoredRun]] = {}
    for run in runs:
        groups.setdefault(into / run.directory.parent.name / run.directory.name, []).append(run)
    results = []
    for target, sources in groups.items():
        others = [run for run in sources if run.directory.resolve() != target.resolve()]
        gather_run(target, others)
        results.append(merge_run(target, legacy))
    return results


def gather_run(target: Path, sources: Sequence[StoredRun]) -> None:
    """Add the records and plans of `sources` (run directories of one run) to the run directory `target`."""
    if not sources:
        return
    existing = read_run(target) if (target / "manifest.json").exists() else None
    run_ids = {run.manifest.run_id for run in sources} | ({existing.manifest.run_id} if existing else set())
    if len(run_ids) > 1:
        listed = ", ".join(str(run.directory) for run in sources)
        raise StoreError(f"cannot merge different runs into {target} (run ids {', '.join(sorted(run_ids))}): {listed}")
    with RunStore(target) as store:
        current = store.records()
        best = dict(current)
        plan = read_plan(target) or {}
        submission = read_submission_plan(target)
        for run in sources:
            for key, record in latest_records(read_records(run.directory / SAMPLES)).items():
                if key not in best or _quality(record) >= _quality(best[key]):
                    best[key] = record
            for key, sample_id in (read_plan(run.directory) or {}).items():
                plan.setdefault(key, sample_id)
            submission = _with(submission, read_submission_plan(run.directory))
        store.append_all(record for key, record in best.items() if current.get(key) != record)
        store.sync()
        if plan:
            store.write_plan(plan)
        if submission is not None:
            submission.write(target)
        manifests = [run.manifest for run in sources] + ([existing.manifest] if existing else [])
        first_start = min(manifest.started_at for manifest in manifests)
        store.write_manifest(replace(sources[-1].manifest, started_at=first_start, status="running", finished_at=None))


def merge_run(directory: Path, legacy: LegacyDescription | None = None) -> MergeResult:
    """Finish one run directory from its records (see `finish_run`) and say what is still missing."""
    with RunStore(directory) as store:
        finished = finish_run(store, legacy=legacy)
    manifest = finished.manifest
    recorded = sum(1 for key in finished.plan if key in finished.records)
    return MergeResult(
        directory,
        manifest.model,
        manifest.task,
        manifest.split,
        recorded,
        finished.missing,
        finished.metrics,
        has_plan=finished.has_plan,
    )


def _with(plan: SubmissionPlan | None, other: SubmissionPlan | None) -> SubmissionPlan | None:
    if plan is None:
        return other
    return plan if other is None else plan.merged(other)


def _quality(record: SampleRecord) -> int:
    """How finished a record is: failed before an output < output waiting for a score < scored."""
    if record.needs_output:
        return 0
    return 1 if record.needs_score else 2
