"""Published numbers (papers, official leaderboards) as rows next to measured ones.

Each JSON file under a reported folder (default `results/reported/`) is one source: where the numbers
were published, the protocol they were scored with, and per model the values keyed by table column
(`benchmark:label`, e.g. `mmau_test_mini:sound`: a column of a benchmark's layout, see `diffa_eval.report.legacy`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

DEFAULT_REPORTED_DIR = Path("results/reported")


@dataclass(frozen=True)
class ReportedEntry:
    model: str
    """The model's name as the source prints it."""
    values: Mapping[str, float]
    matches: str | None = None
    """The diffa-eval model name this is the same checkpoint as, for "measured - reported" rows."""
    self_reported: bool = False
    """Published by the model's own authors rather than measured by the benchmark's maintainers."""


@dataclass(frozen=True)
class ReportedSource:
    id: str
    title: str
    citation: str
    """Where the numbers are printed: a repository file at a commit, a paper table."""
    protocol: str
    split: str
    entries: tuple[ReportedEntry, ...]


def _entry(source: Path, data: Mapping[str, Any], self_reported: bool) -> ReportedEntry:
    try:
        values = {str(key): float(value) for key, value in data["values"].items()}
        return ReportedEntry(
            model=str(data["model"]),
            values=values,
            matches=data.get("matches"),
            self_reported=bool(data.get("self_reported", self_reported)),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"{source}: invalid entry {data!r}: {error}") from None


def read_reported_file(path: Path) -> ReportedSource:
    """One source file; raises ConfigError when a field is missing or a value is not a number."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        default_self = bool(data.get("self_reported", False))
        return ReportedSource(
            id=str(data.get("id", path.stem)),
            title=str(data["title"]),
            citation=str(data["citation"]),
            protocol=str(data["protocol"]),
            split=str(data.get("split", "test")),
            entries=tuple(_entry(path, entry, default_self) for entry in data["entries"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ConfigError(f"unreadable reported-numbers file {path}: {error}") from None


def read_reported(folder: Path = DEFAULT_REPORTED_DIR) -> list[ReportedSource]:
    """Every `*.json` source in a folder, sorted by file name."""
    if not folder.is_dir():
        raise ConfigError(f"no reported-numbers folder {folder}")
    return [read_reported_file(path) for path in sorted(folder.glob("*.json"))]
