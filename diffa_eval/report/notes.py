"""Footnote texts a leaderboard derives from its runs: label versions of a protocol and the data read."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from ..store import StoredRun


def with_labels(protocol: str, runs: Sequence[StoredRun]) -> str:
    """The protocol note, naming the benchmark's label version only when every run shown records one."""
    versions = {run.manifest.dataset.label_version for run in runs}
    if not versions or None in versions:
        return protocol
    return f"{protocol}, labels {' / '.join(sorted(v for v in versions if v))}"


def dataset_versions(runs: Iterable[StoredRun], tasks: Collection[str]) -> list[str]:
    """Each dataset version that the runs of `tasks` read, sorted."""
    return sorted({dataset_version(run) for run in runs if run.manifest.task in tasks})


def dataset_note(versions: Sequence[str]) -> str:
    """ "Data: ..." naming the dataset versions; empty when none."""
    return "Data: " + "; ".join(versions) if versions else ""


def dataset_version(run: StoredRun) -> str:
    """The dataset id with a short revision (a commit or blob sha cut to 8) and its label version."""
    dataset = run.manifest.dataset
    text = dataset.id
    if dataset.revision:
        is_sha = len(dataset.revision) == 40 and all(c in "0123456789abcdef" for c in dataset.revision)
        prefix, colon, digest = dataset.revision.rpartition(":")
        text += "@" + (
            dataset.revision[:8] if is_sha else f"{prefix}{colon}{digest[:8]}" if colon else dataset.revision
        )
    return text + (f" ({dataset.label_version})" if dataset.label_version else "")
