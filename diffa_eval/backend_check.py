"""Equivalence check between inference backends: one model, the same samples and prompts, two backends.

Each backend's run is an ordinary stored run (so it resumes, and its records stay for
inspection); the check pairs their records by sample id and reports how often the outputs
and the scored answers agree, and the speed ratio.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .errors import ConfigError
from .run import RunOptions, RunOutcome, evaluate
from .store import SampleRecord, StoredRun, read_run
from .task import Task
from .types import ModelSpec


@dataclass(frozen=True)
class BackendAgreement:
    """How two runs of one model on one task compare, over the samples both answered."""

    task: str
    baseline: str
    """The reference run's model (e.g. `qwen2-audio-instruct`, transformers)."""
    candidate: str
    """The compared run's model (e.g. `qwen2-audio-instruct+vllm`)."""
    compared: int
    same_text: int
    same_answer: int
    baseline_seconds: float
    candidate_seconds: float

    @property
    def text_agreement(self) -> float:
        """Percent of compared samples whose output texts are identical (after trimming whitespace)."""
        return 100.0 * self.same_text / self.compared if self.compared else 0.0

    @property
    def answer_agreement(self) -> float:
        """Percent of compared samples whose scored answers (extracted answer, else text, and score) match."""
        return 100.0 * self.same_answer / self.compared if self.compared else 0.0

    @property
    def speedup(self) -> float | None:
        """Baseline time over candidate time on the compared samples: above 1 means the candidate is faster."""
        return self.baseline_seconds / self.candidate_seconds if self.candidate_seconds > 0 else None


def _answer(record: SampleRecord) -> tuple[str, float | None]:
    text = record.extracted if record.extracted is not None else (record.output or "")
    return " ".join(text.split()).lower(), record.score


def compare_runs(baseline: StoredRun, candidate: StoredRun) -> BackendAgreement:
    """Pair two runs' successful records by sample id and count agreements."""
    if baseline.manifest.task != candidate.manifest.task:
        raise ConfigError(f"cannot compare runs of {baseline.manifest.task} and {candidate.manifest.task}")
    ours = {record.sample_id: record for record in baseline.records() if not record.failed}
    theirs = {record.sample_id: record for record in candidate.records() if not record.failed}
    shared = sorted(ours.keys() & theirs.keys())
    pairs = [(ours[sample_id], theirs[sample_id]) for sample_id in shared]
    return BackendAgreement(
        task=baseline.manifest.task,
        baseline=baseline.manifest.model,
        candidate=candidate.manifest.model,
        compared=len(pairs),
        same_text=sum((a.output or "").strip() == (b.output or "").strip() for a, b in pairs),
        same_answer=sum(_answer(a) == _answer(b) for a, b in pairs),
        baseline_seconds=sum(a.seconds or 0.0 for a, _ in pairs),
        candidate_seconds=sum(b.seconds or 0.0 for _, b in pairs),
    )


def compare_backends(
    model: ModelSpec,
    tasks: Sequence[Task],
    options: RunOptions,
    backends: Sequence[str],
    backend_options: Sequence[dict[str, object]] | None = None,
) -> tuple[list[BackendAgreement], list[RunOutcome]]:
    """Run `model` on `tasks` through each backend and compare every later backend with the first.

    `backend_options` adds generation options per backend (e.g. vLLM engine settings), in the
    order of `backends`. Returns the agreements and every run's outcome (failed runs have errors).
    """
    if len(backends) < 2 or len(set(backends)) != len(backends):
        raise ConfigError(f"compare at least two different backends, got {', '.join(backends) or 'none'}")
    extra = list(backend_options or [{} for _ in backends])
    if len(extra) != len(backends):
        raise ConfigError("give one set of backend options per backend")
    spec = replace(model, backend=None)
    outcomes_by_backend: list[list[RunOutcome]] = []
    for backend, added in zip(backends, extra, strict=True):
        generation = dict(options.generation)
        generation["options"] = {**(generation.get("options") or {}), **added}
        backend_run = replace(options, backend=backend, generation=generation)
        outcomes_by_backend.append(evaluate([spec], tasks, backend_run))
    agreements = []
    for index, reference in enumerate(outcomes_by_backend[0]):
        for outcomes in outcomes_by_backend[1:]:
            other = outcomes[index]
            if reference.run_dir is None or other.run_dir is None:
                continue
            agreements.append(compare_runs(read_run(reference.run_dir), read_run(other.run_dir)))
    return agreements, [outcome for outcomes in outcomes_by_backend for outcome in outcomes]
