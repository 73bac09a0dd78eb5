"""Run models x tasks: check everything up front, load each model once, then plan, execute and finish each run.

Each (model, task, split, prompt variant, generation config) is one run directory. The whole plan is
checked first, before any model loads (`preflight.check_plan`). For each pair the runner then plans the
run (`plan.plan_run`), produces the samples not recorded yet (`execute.produce`), scores stored outputs
that wait for a score (`execute.score_stored`) and finishes the run (`finish.finish_run`, the step
`merge` uses too).

A sharded run (`RunOptions.shard`, or the ranks of a torchrun group) produces only its shard's samples
into the same run directory; whoever finds every planned sample recorded finishes the run (under
torchrun: rank 0, once all ranks are done).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from ..errors import ConfigError
from ..models import load_model
from ..models.base import ModelAdapter
from ..store import MANIFEST, RunStore, SampleRecord
from ..task import Task
from ..types import ModelSpec
from .execute import BatchSize, produce, score_stored
from .finish import finish_run
from .options import NoProgress, PlannedRun, Progress, RunOptions, RunOutcome
from .plan import PreparedSample, Probe, Provenance, RunPlan, plan_run, probe_all
from .preflight import check_plan, plan_without_loading
from .provenance import package_versions, source_git_sha
from .sharding import RankGroup, ShardSpec

log = logging.getLogger(__name__)


class Runner:
    """Runs models on tasks. Use `evaluate` for the common case."""

    def __init__(self, options: RunOptions, progress: Progress | None = None, group: RankGroup | None = None) -> None:
        """`group`: the torchrun ranks this process is one of; each rank runs shard RANK/WORLD_SIZE."""
        if group is not None and options.shard is not None:
            raise ConfigError("--shard cannot be combined with torchrun ranks: each rank already is a shard")
        self.options = options
        self.progress: Progress = progress or NoProgress()
        self.group = group
        self._shard = ShardSpec(group.rank, group.world_size) if group is not None else options.shard
        self._provenance = Provenance(package_versions(), source_git_sha())

    def run(self, models: Sequence[ModelSpec], tasks: Sequence[Task]) -> list[RunOutcome]:
        """Every model on every task. A model or dataset that fails to load is reported in the
        outcomes, and the other pairs still run."""
        checked = check_plan(self.options, models, tasks, writes=True)
        splits, data, judge = checked.splits, checked.data, checked.judge
        probes: dict[str, list[Probe]] = {}
        outcomes: list[RunOutcome] = []
        for spec in checked.models:
            try:
                adapter = load_model(spec, self.options.device)
            except Exception as error:
                message = f"model {spec} failed to load: {type(error).__name__}: {error}"
                log.error(message)
                outcomes += [RunOutcome(str(spec), t.name, splits[t.name], None, None, error=message) for t in tasks]
                for _ in tasks:
                    self._wait_for_ranks()
                continue
            try:
                for task in tasks:
                    loaded = data[task.name]
                    if isinstance(loaded, str):
                        outcomes.append(RunOutcome(str(spec), task.name, splits[task.name], None, None, error=loaded))
                        self._wait_for_ranks()
                        continue
                    if task.name not in probes:
                        probes[task.name] = probe_all(loaded.samples)
                    plan = plan_run(
                        adapter, spec, task, splits[task.name], loaded, probes[task.name], self.options,
                        self._provenance, judge,
                    )  # fmt: skip
                    outcomes.append(self._run(adapter, plan) if self._shard is None else self._run_shard(adapter, plan))
            finally:
                adapter.close()
        return outcomes

    def plan(self, models: Sequence[ModelSpec], tasks: Sequence[Task]) -> list[PlannedRun]:
        """What `run` would do, checked as `run` checks it, without loading any model or writing anything."""
        return plan_without_loading(self.options, models, tasks, self._provenance)

    def _run(self, adapter: ModelAdapter, plan: RunPlan) -> RunOutcome:
        """Produce the run's pending samples, score what waits for a score, and finish the run."""
        manifest = plan.manifest
        with RunStore(plan.directory) as store:
            plan.write(store)
            label = f"{manifest.model} · {plan.task.name} ({manifest.split})"
            batching = BatchSize(self.options.batch_size)
            pending = self._produce(store, adapter, plan, plan.samples, label, batching)
            rescored = score_stored(store, plan, {p.key: p for p in plan.samples})
            finished = finish_run(store, replace(plan.manifest, batching=batching.to_dict()))
        waiting, failure = _first_reasons(finished.records, plan.keys)
        return RunOutcome(
            manifest.model,
            plan.task.name,
            manifest.split,
            plan.directory,
            finished.metrics,
            len(pending),
            len(plan.samples) - len(pending),
            rescored,
            pending=waiting,
            failure=failure,
        )

    def _run_shard(self, adapter: ModelAdapter, plan: RunPlan) -> RunOutcome:
        """Produce this shard's pending samples into the shared run directory, then finish the run if no
        planned sample is left unrecorded: any shard may (the last to finish does it last, under the
        records lock); under torchrun only rank 0 does, after every rank is done."""
        shard = self._shard
        assert shard is not None
        finishes = self.group is None or self.group.rank == 0
        manifest = replace(plan.manifest, shards=shard.count)
        with RunStore(plan.directory, shared=True) as store:
            # Rank 0 owns the manifest; another rank writes it only where rank 0 never will (node-local
            # output dirs), so that `merge --into` can find that node's records.
            if finishes or not (plan.directory / MANIFEST).exists():
                plan.write(store, manifest)
            mine = [p for p in plan.samples if shard.owns(p.key)]
            label = f"{manifest.model} · {plan.task.name} ({manifest.split}) shard {shard}"
            batching = BatchSize(self.options.batch_size)
            pending = self._produce(store, adapter, plan, mine, label, batching)
            rescored = score_stored(store, plan, {p.key: p for p in mine})
            self._wait_for_ranks()
            records = store.records()
            missing = [key for key in plan.keys if key not in records]
            metrics = None
            if finishes and not missing:
                score_stored(store, plan, {p.key: p for p in plan.samples})  # e.g. left by a shard without judge
                finished = finish_run(store, replace(manifest, batching=batching.to_dict()))
                metrics, records = finished.metrics, finished.records
        waiting, failure = _first_reasons(records, plan.keys)
        return RunOutcome(
            manifest.model,
            plan.task.name,
            manifest.split,
            plan.directory,
            metrics,
            len(pending),
            len(mine) - len(pending),
            rescored,
            pending=waiting,
            failure=failure,
            shard=str(shard),
            missing=len(missing),
        )

    def _produce(
        self,
        store: RunStore,
        adapter: ModelAdapter,
        plan: RunPlan,
        samples: Sequence[PreparedSample],
        label: str,
        batching: BatchSize,
    ) -> list[PreparedSample]:
        """Produce and record `samples` that have no usable record yet; returns those it produced."""
        done = {key for key, record in store.records().items() if not record.needs_output}
        pending = [p for p in samples if p.key not in done]
        self.progress.start(label, len(samples), len(samples) - len(pending))
        try:
            for records in produce(adapter, plan, pending, batching, self.options.long_audio):
                store.append_all(records)
                store.sync()
                self.progress.advance(len(records), sum(1 for record in records if record.failed))
        finally:
            self.progress.finish()
        return pending

    def _wait_for_ranks(self) -> None:
        """Under torchrun, wait until every rank has finished the current (model, task)."""
        if self.group is not None:
            self.group.barrier()


def _first_reasons(records: Mapping[str, SampleRecord], keys: Iterable[str]) -> tuple[str | None, str | None]:
    """Why the first waiting output waits, and the first failed sample's error, among `keys`."""
    mine = [records[key] for key in keys if key in records]
    waiting = next((r.pending for r in mine if r.pending), None)
    failure = next((r.error for r in mine if r.error), None)
    return waiting, failure


def evaluate(
    models: Sequence[ModelSpec],
    tasks: Sequence[Task],
    options: RunOptions | None = None,
    progress: Progress | None = None,
    group: RankGroup | None = None,
) -> list[RunOutcome]:
    """Run every model on every task and return one outcome per pair; `group`: the torchrun ranks
    this process is one of (see `diffa_eval.run.sharding.TorchDistributedGroup`)."""
    return Runner(options or RunOptions(), progress, group).run(models, tasks)
