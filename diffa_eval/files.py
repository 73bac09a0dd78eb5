"""Writing files safely: atomic replacement (readers see the old content or the new, never part), the
temporary files that writers killed mid-write leave behind, write errors as one clear StoreError, and text
that can always be written (lone surrogates replaced).

An atomic write goes through a hidden temporary file, `.<name>.<pid>@<host>.<random>.tmp`, in the same
folder, renamed over the target once written and synced.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import StoreError

log = logging.getLogger(__name__)

_SURROGATES = re.compile("[\ud800-\udfff]")
_HOST = re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname())[:64] or "unknown-host"
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)(?:@(?P<host>[^@/]+))?\.[0-9a-f]{8}\.tmp$")
"""Temporary files of atomic writes; names without `@host` come from older versions of diffa-eval."""
STALE_TEMPORARY_SECONDS = 3600.0


def unicode_safe(text: str) -> str:
    """`text` with lone surrogates (from bytes that were never valid UTF-8) replaced by U+FFFD, so it can be written."""
    return _SURROGATES.sub("\ufffd", text)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` so that readers see either the old or the new content."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that readers see either the old or the new content."""
    temporary = temporary_path(path)
    try:
        # os.open with mode 0o666 lets the umask decide permissions, as for any new file.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def temporary_path(path: Path) -> Path:
    """The hidden file an atomic write of `path` goes through, named after the writing process and host."""
    return path.with_name(f".{path.name}.{os.getpid()}@{_HOST}.{uuid.uuid4().hex[:8]}.tmp")


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove the temporary files that interrupted atomic writes left in `directory`; return them.

    A temporary file lives only from the start of one write to its rename, so one that is still there
    belongs to a writer that was killed, unless that writer is in the middle of a write. Run directories
    are written under their lock (the exclusive lock, or for shards the records lock), which the caller
    holds, and on top of that a file is removed only when it is known to be stale:
    - its name says it was written on this host by a process that no longer exists (pid liveness can
      only be checked on the writer's own host; a reused pid keeps the file until it is old), or
    - it has not been modified for an hour (any host: shards on other machines writing to a shared
      filesystem, whose pids mean nothing here, and files named by older versions without a host).
    An hour is far longer than any single write takes, and leaves room for clock skew between hosts.
    Removing a live writer's file could only make that write fail, never corrupt the run.
    """
    removed: list[Path] = []
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue  # removed meanwhile
        dead_here = match["host"] == _HOST and not _process_exists(int(match["pid"]))
        if dead_here or age > STALE_TEMPORARY_SECONDS:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
                log.warning("%s: removed a temporary file left by an interrupted write", entry.path)
    return removed


def _process_exists(pid: int) -> bool:
    """Whether process `pid` exists on this host (True when that cannot be told)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":  # os.kill(pid, 0) would terminate the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


@contextlib.contextmanager
def writing(path: Path, resumable: bool = True) -> Iterator[None]:
    """Turn a failed write (disk full, read-only, quota) into a StoreError; for a run's files (`resumable`)
    it says that nothing recorded is lost."""
    try:
        yield
    except OSError as error:
        advice = "; the samples recorded so far are kept, run the same command again to resume" if resumable else ""
        raise StoreError(f"cannot write {path}: {error.strerror or error}{advice}") from None
