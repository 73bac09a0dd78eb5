"""One generic registry for tasks and models: duplicate checks, "did you mean", lazy entries, plugins.

An entry's target is either the object itself or a lazy `"package.module:attribute"` string
that is imported only when the entry is first used, so listing names and descriptions never
imports torch. Third-party packages add entries through an entry-point group; those are
loaded once, when a lookup misses or when all entries are listed.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Generic, TypeVar

from .errors import RegistryError, UnknownNameError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered name: its target (object or lazy import path), description and origin."""

    name: str
    target: T | str
    description: str = ""
    origin: str = "builtin"
    tags: tuple[str, ...] = ()

    @property
    def is_lazy(self) -> bool:
        return isinstance(self.target, str)


def import_object(path: str) -> Any:
    """Import `"package.module:attribute"` and return the attribute."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise RegistryError(f"lazy entry {path!r} must look like 'package.module:attribute'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise RegistryError(f"module {module_name!r} has no attribute {attribute!r}") from None


class Registry(Generic[T]):
    """Named entries of one kind (e.g. "task", "model").

    Args:
        kind: what the entries are, used in messages.
        entry_point_group: entry-point group through which plugins register entries.
        discover: called once before the first lookup, to register entries that are
            defined elsewhere (e.g. task files found on disk).
        accept: validates a resolved target; returns an error message or None.
    """

    def __init__(
        self,
        kind: str,
        *,
        entry_point_group: str | None = None,
        discover: Callable[[], None] | None = None,
        accept: Callable[[Any], str | None] | None = None,
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._discover = discover
        self._accept = accept
        self._entries: dict[str, Entry[T]] = {}
        self._lock = threading.RLock()
        self._discovered = discover is None
        self._plugins_loaded = entry_point_group is None

    def register(
        self,
        name: str,
        target: T | str,
        *,
        description: str = "",
        origin: str = "builtin",
        tags: tuple[str, ...] = (),
    ) -> None:
        """Add an entry; a name that is already taken raises RegistryError."""
        if not name or name != name.strip():
            raise RegistryError(f"invalid {self.kind} name {name!r}")
        with self._lock:
            existing = self._entries.get(name)
            if existing is not None:
                raise RegistryError(f"{self.kind} {name!r} is registered twice: by {existing.origin} and by {origin}")
            self._entries[name] = Entry(name, target, description, origin, tags)

    def unregister(self, name: str) -> None:
        """Remove an entry (e.g. one a test registered); unknown names raise UnknownNameError."""
        with self._lock:
            if name not in self._entries:
                raise self.unknown(name)
            del self._entries[name]

    def get(self, name: str) -> T:
        """The target registered under `name`, imported on first use."""
        entry = self.entry(name)
        if not entry.is_lazy:
            return entry.target  # type: ignore[return-value]
        with self._lock:
            entry = self._entries[name]
            if entry.is_lazy:
                assert isinstance(entry.target, str)
                resolved = import_object(entry.target)
                self._check(name, resolved)
                entry = replace(entry, target=resolved)
                self._entries[name] = entry
        return entry.target  # type: ignore[return-value]

    def entry(self, name: str) -> Entry[T]:
        """The entry registered under `name` (not resolved); unknown names raise UnknownNameError."""
        self._ensure_discovered()
        if name not in self._entries:
            self._load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(name) from None

    def entries(self) -> list[Entry[T]]:
        """Every entry, plugins included, sorted by name."""
        self._ensure_discovered()
        self._load_plugins()
        return [self._entries[name] for name in sorted(self._entries)]

    def names(self) -> list[str]:
        return [entry.name for entry in self.entries()]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self._ensure_discovered()
        if name not in self._entries:
            self._load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def unknown(self, name: str, also: tuple[str, ...] = ()) -> UnknownNameError:
        """The error for an unknown name, with close matches among entries and `also`."""
        candidates = sorted({*self._entries, *also})
        suggestions = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        return UnknownNameError(self.kind, name, suggestions, candidates)

    def _check(self, name: str, target: Any) -> None:
        problem = self._accept(target) if self._accept else None
        if problem:
            raise RegistryError(f"{self.kind} {name!r}: {problem}")

    def _ensure_discovered(self) -> None:
        if self._discovered:
            return
        with self._lock:
            if self._discovered:
                return
            self._discovered = True
            assert self._discover is not None
            self._discover()

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        with self._lock:
            if self._plugins_loaded:
                return
            self._plugins_loaded = True
            assert self.entry_point_group is not None
            for ep in entry_points(group=self.entry_point_group):
                origin = f"entry point {ep.name} = {ep.value}"
                try:
                    loaded = ep.load()
                    # A module registers its own entries on import; anything else is the target.
                    if not isinstance(loaded, ModuleType):
                        self._check(ep.name, loaded)
                        self.register(ep.name, loaded, description=_first_line(loaded), origin=origin)
                except Exception as error:  # a broken plugin must not break the harness
                    log.warning("could not load %s plugin %s: %s", self.kind, origin, error)


def _first_line(obj: Any) -> str:
    doc = getattr(obj, "description", None) or getattr(obj, "__doc__", None) or ""
    return str(doc).strip().splitlines()[0] if str(doc).strip() else ""
