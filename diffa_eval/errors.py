"""The exception tree of diffa-eval.

    DiffaEvalError                 every error the harness raises on purpose
    ├── RegistryError              duplicate or malformed registrations
    │   └── UnknownNameError       a task, group or model name that is not registered
    ├── ConfigError                options or model specs that do not make sense
    ├── DataError                  a dataset that cannot be found or read (says what to fetch, where)
    ├── AudioError                 one sample's audio is missing, corrupt, empty or not finite
    ├── StoreError                 a run directory that cannot be written, read or locked
    ├── CheckpointError            model weights or configs that cannot be found or read (names the file or id)
    └── MissingDependencyError     an optional extra that is not installed

A failure that concerns a single sample (an AudioError, a model exception) is recorded in
that sample's record and never stops a run.
"""

from __future__ import annotations

from collections.abc import Sequence


class DiffaEvalError(Exception):
    """Base class of every error diffa-eval raises on purpose."""


class CheckpointError(DiffaEvalError):
    """A model checkpoint (local folder, file or hub id) that is missing or incomplete."""


class RegistryError(DiffaEvalError):
    """A registration is invalid, e.g. a name registered twice."""


class UnknownNameError(RegistryError, KeyError):
    """A name that is not registered; carries close matches for a "did you mean" hint."""

    def __init__(self, kind: str, name: str, suggestions: Sequence[str], available: Sequence[str]):
        self.kind = kind
        self.name = name
        self.suggestions = tuple(suggestions)
        self.available = tuple(available)
        hint = f" Did you mean {' or '.join(repr(s) for s in self.suggestions)}?" if self.suggestions else ""
        listing = ", ".join(self.available) if self.available else "none"
        super().__init__(f"unknown {kind} {name!r}.{hint} Available: {listing}.")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ConfigError(DiffaEvalError):
    """Options, model specs or generation settings that do not make sense."""


class DataError(DiffaEvalError):
    """A dataset that cannot be found or read; the message says what to download and where."""


class AudioError(DiffaEvalError):
    """The audio of one sample is missing, corrupt, empty or contains non-finite values."""


class StoreError(DiffaEvalError):
    """A run directory that cannot be written, read or locked."""


class MissingDependencyError(DiffaEvalError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str):
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed: pip install 'diffa-eval[{extra}]'")
