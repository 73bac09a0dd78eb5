"""Progress bars for `run` and `sweep`: one per (model, task), with samples/s and ETA."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class RichProgress:
    """Progress bars with samples/s and ETA, one per (model, task)."""

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

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            Speed(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._progress.start()
        self._task: Any = None

    def start(self, label: str, total: int, completed: int) -> None:
        self._task = self._progress.add_task(label, total=total, completed=completed)

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)

    def finish(self) -> None:
        self._progress.refresh()

    def close(self) -> None:
        self._progress.stop()
