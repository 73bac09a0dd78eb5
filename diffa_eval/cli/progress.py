"""Progress of `run` and `sweep`, one (model, task) at a time: rich bars on a terminal, plain lines elsewhere.

Off a terminal (a Slurm log, `| tee`, CI) a bar shows nothing until the run ends, so `PlainProgress` writes a
flushed line at a steady pace instead: when a run starts, each time another `every_percent` of it is done,
at least every `every_seconds` while it works (from a timer, so a long batch still shows the run is alive), and
when it ends. `DIFFA_EVAL_PROGRESS_SECONDS` and `DIFFA_EVAL_PROGRESS_PERCENT` change the pace.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)

SECONDS_ENV = "DIFFA_EVAL_PROGRESS_SECONDS"
PERCENT_ENV = "DIFFA_EVAL_PROGRESS_PERCENT"
EVERY_SECONDS = 30.0
EVERY_PERCENT = 5.0


def progress_for(console: Console) -> RichProgress | PlainProgress:
    """Rich bars when the console is a terminal, plain lines on standard output otherwise."""
    if console.is_terminal:
        return RichProgress(console)
    return PlainProgress(console.file, _env_number(SECONDS_ENV, EVERY_SECONDS), _env_number(PERCENT_ENV, EVERY_PERCENT))


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1.0
    if not value > 0:
        log.warning("%s=%r is not a positive number; using %g", name, text, default)
        return default
    return value


class RichProgress:
    """Progress bars with samples/s, ETA and failures so far, one per (model, task)."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Task as ProgressTask
        from rich.text import Text

        class Speed(ProgressColumn):
            def render(self, task: ProgressTask) -> Text:
                speed = task.finished_speed or task.speed
                return Text("" if speed is None else f"{speed:.1f} samples/s", style="cyan")

        class Failures(ProgressColumn):
            def render(self, task: ProgressTask) -> Text:
                failed = int(task.fields.get("failed", 0))
                return Text(f"{failed} failed" if failed else "", style="red")

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            Speed(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            Failures(),
            console=console,
        )
        self._progress.start()
        self._task: Any = None
        self._failed = 0

    def start(self, label: str, total: int, completed: int) -> None:
        self._failed = 0
        self._task = self._progress.add_task(label, total=total, completed=completed, failed=0)

    def advance(self, count: int, failed: int = 0) -> None:
        self._failed += failed
        self._progress.update(self._task, advance=count, failed=self._failed)

    def finish(self) -> None:
        self._progress.refresh()

    def close(self) -> None:
        self._progress.stop()


class PlainProgress:
    """Flushed plain lines: model · task (split), done/total, samples/s, ETA and failures so far."""

    def __init__(
        self,
        stream: IO[str],
        every_seconds: float = EVERY_SECONDS,
        every_percent: float = EVERY_PERCENT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._every_seconds = every_seconds
        self._every_percent = every_percent
        self._clock = clock
        self._lock = threading.Lock()
        self._label = ""
        self._total = 0
        self._done = 0
        self._at_start = 0
        self._failed = 0
        self._started = 0.0
        self._last_line = 0.0
        self._last_step = 0
        self._active = False
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._timer.start()

    def start(self, label: str, total: int, completed: int) -> None:
        with self._lock:
            self._label, self._total, self._done, self._at_start, self._failed = label, total, completed, completed, 0
            self._started = self._clock()
            self._last_step = self._step()
            self._active = True
            self._write("started" + (f", {completed} recorded before" if completed else ""))

    def advance(self, count: int, failed: int = 0) -> None:
        with self._lock:
            self._done += count
            self._failed += failed
            if self._step() > self._last_step:
                self._last_step = self._step()
                self._write()

    def finish(self) -> None:
        with self._lock:
            if self._active:
                self._active = False
                self._write("done")

    def close(self) -> None:
        self._stop.set()
        self._timer.join()

    def _tick(self) -> None:
        """Every `every_seconds` without a line, a line: a batch that takes long still shows the run is alive."""
        while not self._stop.wait(min(self._every_seconds, 1.0)):
            with self._lock:
                if self._active and self._clock() - self._last_line >= self._every_seconds:
                    self._write()

    def _step(self) -> int:
        """How many `every_percent` steps of the run are done."""
        return int(100 * self._done / self._total // self._every_percent) if self._total else 0

    def _write(self, state: str = "") -> None:
        now = self._clock()
        elapsed = now - self._started
        produced = self._done - self._at_start
        rate = produced / elapsed if elapsed > 0 else 0.0
        remaining = self._total - self._done
        eta = _duration(remaining / rate) if rate > 0 else ("0:00:00" if not remaining else "unknown")
        percent = 100 * self._done / self._total if self._total else 100.0
        parts = [
            f"{self._done}/{self._total} ({percent:.0f}%)",
            f"{rate:.2f} samples/s",
            f"ETA {eta}",
            f"{self._failed} failed",
            f"elapsed {_duration(elapsed)}",
        ]
        if state:
            parts.insert(0, state)
        self._stream.write(f"[progress] {self._label}: {', '.join(parts)}\n")
        self._stream.flush()
        self._last_line = now


def _duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
