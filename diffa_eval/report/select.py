"""Which stored runs a report shows: leaderboard rows, and one run per (row, task, split), chosen by content.

A row is a model spec (name, backend, checkpoint) plus the settings its runs were asked for
(`variant.asked` in the manifest: decoding mode and options, prompt variant, answer length, seed, as given
on the command line), so one command's runs share a row; a run asked for under several settings (the same
computation) belongs to each of their rows. Runs that do not record what they were asked for use how their
settings differ from the model's default run (`variant.settings`); version-1 runs share their model's
default row.

Only complete runs count. A run is *partial* when it covers fewer samples than its split has (`--limit`),
when its failed fraction exceeds the `--max-failures` it was run with, or when nothing in it was scored
because every sample failed. A partial run never stands in for a full one: it is chosen for its slot only
when asked (`partial=True`) and no full run fills the slot. Among the candidates of a slot the choice
depends only on their content (full first, then more scored samples, a higher task version, then the run
id and directory), never on file times; equal candidates that report different numbers are named in a
warning.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..describe import VariantInfo
from ..store import StoredRun
from ..types import stable_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class RowKey:
    """A leaderboard row: the model spec and its distinguishing settings as canonical JSON ("{}": default)."""

    model: str
    settings: str = "{}"

    @property
    def default(self) -> bool:
        return self.settings == "{}"


@dataclass(frozen=True)
class Coverage:
    """How much of its split a run covers, and whether that makes it partial."""

    planned: int
    """Samples the run covers."""
    dataset: int | None
    """Samples in the split (None in version-1 runs, which do not record it)."""
    scored: int
    failed: int
    limited: bool
    too_many_failures: bool

    @property
    def partial(self) -> bool:
        return self.limited or self.too_many_failures

    @property
    def note(self) -> str:
        """Why the run is partial, e.g. "3 of 10 samples" or "failed 4 of 10"; empty for a full run."""
        parts = []
        if self.limited:
            parts.append(f"{self.planned} of {self.dataset} samples")
        if self.too_many_failures:
            parts.append(f"failed {self.failed} of {self.planned}")
        return ", ".join(parts)


def coverage(run: StoredRun) -> Coverage:
    """The coverage of a completed run (its metrics are read; `run.metrics` must be present)."""
    assert run.metrics is not None
    metrics, scope = run.metrics, run.manifest.scope
    planned = scope.planned if scope is not None else metrics.n_samples
    allowed = scope.max_failures if scope is not None else None
    fraction = metrics.n_failed / planned if planned else 0.0
    produced = metrics.n_scored + metrics.n_excluded + metrics.n_pending
    return Coverage(
        planned=planned,
        dataset=scope.dataset if scope is not None else None,
        scored=metrics.n_scored,
        failed=metrics.n_failed,
        limited=scope is not None and scope.limited,
        too_many_failures=(allowed is not None and fraction > allowed) or (metrics.n_failed > 0 and not produced),
    )


def variant_of(run: StoredRun) -> VariantInfo:
    """The run's variant; a version-1 run's is the default (no record of how its settings differ)."""
    return run.manifest.variant or VariantInfo()


def row_keys(run: StoredRun) -> list[tuple[RowKey, VariantInfo]]:
    """The rows the run belongs to, each with its variant (the settings asked for and their label)."""
    return [(RowKey(run.manifest.model, _canonical(row.settings)), row) for row in variant_of(run).rows()]


def _canonical(settings: Mapping[str, Any]) -> str:
    return json.dumps(dict(settings), sort_keys=True, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class Chosen:
    """The run shown for one (row, task, split)."""

    row: RowKey
    run: StoredRun
    coverage: Coverage
    variant: VariantInfo = field(default_factory=VariantInfo)
    """The row's settings and label."""

    @property
    def task(self) -> str:
        return self.run.manifest.task

    @property
    def split(self) -> str:
        return self.run.manifest.split


def is_complete(run: StoredRun) -> bool:
    """A run whose metrics were written for its current manifest (a resumed run is `running` until it ends)."""
    return run.metrics is not None and run.manifest.status == "complete"


def _preference(candidate: Chosen) -> tuple[Any, ...]:
    run = candidate.run
    return (*_content(candidate), run.manifest.run_id, str(run.directory))


def _content(candidate: Chosen) -> tuple[bool, int, int]:
    """What ranks candidates of a slot: full before partial, more scored samples, a newer task version."""
    return (candidate.coverage.partial, -candidate.coverage.scored, -candidate.run.manifest.task_version)


def _numbers(run: StoredRun) -> dict[str, float]:
    assert run.metrics is not None
    return {name: round(value.value, 9) for name, value in run.metrics.metrics.items()}


def choose_runs(runs: Iterable[StoredRun], partial: bool = False) -> list[Chosen]:
    """One run per (row, task, split) among the complete runs, chosen by content; sorted by slot.

    Partial runs are candidates only with `partial`, and are chosen only where no full run fills the slot.
    """
    slots: dict[tuple[RowKey, str, str], list[Chosen]] = {}
    for run in runs:
        if not is_complete(run):
            continue
        covered = coverage(run)
        if covered.partial and not partial:
            continue
        for row, variant in row_keys(run):
            candidate = Chosen(row, run, covered, variant)
            slots.setdefault((candidate.row, candidate.task, candidate.split), []).append(candidate)
    chosen = []
    for slot in sorted(slots):
        candidates = sorted(slots[slot], key=_preference)
        best = candidates[0]
        equal = [c for c in candidates[1:] if _content(c) == _content(best) and _numbers(c.run) != _numbers(best.run)]
        if equal:
            log.warning(
                "%s on %s (%s): %d runs of equal coverage report different numbers; showing %s (the first by run "
                "id), not %s",
                slot[0].model, slot[1], slot[2], len(equal) + 1, best.run.directory,
                ", ".join(str(c.run.directory) for c in equal),
            )  # fmt: skip
        chosen.append(best)
    return chosen


def row_labels(rows: Mapping[RowKey, VariantInfo]) -> dict[RowKey, str]:
    """Each row's name: the model, plus " · " and the variant's label when the model has several rows here."""
    per_model: dict[str, int] = {}
    for key in rows:
        per_model[key.model] = per_model.get(key.model, 0) + 1
    labels: dict[RowKey, str] = {}
    for key, variant in rows.items():
        if per_model[key.model] == 1 or key.default:
            labels[key] = key.model
        else:
            labels[key] = f"{key.model} · {variant.label or key.settings}"
    taken: dict[str, int] = {}
    for label in labels.values():
        taken[label] = taken.get(label, 0) + 1
    for key, label in labels.items():
        if taken[label] > 1 and not key.default:  # two settings with one label: tell them apart
            labels[key] = f"{label} [{stable_hash(key.settings)[:6]}]"
    return labels


def row_order(rows: Mapping[RowKey, VariantInfo], labels: Mapping[RowKey, str]) -> list[RowKey]:
    """Rows sorted by model, its default row first, then by label."""
    return sorted(rows, key=lambda key: (key.model, not key.default, labels[key], key.settings))


def pick_rows(available: Sequence[RowKey], labels: Mapping[RowKey, str], names: Sequence[str]) -> list[RowKey]:
    """The rows `names` ask for, in their order: a model name gives all its rows, a row label that row.

    Names that match no row are returned by `unmatched`.
    """
    picked: list[RowKey] = []
    for name in names:
        for key in available:
            if (key.model == name or labels[key] == name) and key not in picked:
                picked.append(key)
    return picked


def unmatched(available: Sequence[RowKey], labels: Mapping[RowKey, str], names: Sequence[str]) -> list[str]:
    return [name for name in names if not any(key.model == name or labels[key] == name for key in available)]
