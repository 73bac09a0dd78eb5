"""Point labels and baseline captions that avoid each other: each text goes where it covers the least of
what is drawn already (points, the Pareto front, earlier texts) and of the outside of its axes, nearest
first, with a leader line when it must move away from its point. Placed once a figure's layout is final."""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BASELINE_COLOR = "#555555"
"""Baselines' reference lines and their captions."""


@dataclass
class PendingLabels:
    """Point labels waiting to be placed once the figure's layout is final."""

    axes: Axes
    entries: list[tuple[float, float, str, str]]
    """(x, y, text, colour) per point."""
    captions: list[tuple[float, str]]
    """(y, text) of each baseline line, captioned at one end of the line."""
    lines: list[list[tuple[float, float]]]
    """Lines in data coordinates (the Pareto front) that labels should not cross."""


def _rect_overlap(a: Any, b: Any) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0


_OFFSETS = tuple(
    (radius, radius * math.cos(math.radians(angle)), radius * math.sin(math.radians(angle)))
    for radius in (6.0, 13.0, 22.0, 34.0, 48.0)
    for angle in (0, 180, 90, -90, 35, 145, -35, -145)
)
"""Where a point's label may go, nearest first: (distance, dx, dy) in points."""


class _Placer:
    """Places texts in one axes, each where it covers the least of what is there already (points, lines,
    earlier texts) and of the outside of the axes; the first candidate that covers nothing wins."""

    def __init__(self, axes: Axes, renderer: Any, pending: PendingLabels) -> None:
        from matplotlib.transforms import Bbox

        self.axes = axes
        self.renderer = renderer
        self.frame = axes.get_window_extent(renderer)
        self.pad = axes.figure.dpi / 72 * 4.5  # a marker's half width, in pixels
        self.points = [axes.transData.transform((x, y)) for x, y, _, _ in pending.entries]
        self.taken = [Bbox.from_extents(x - self.pad, y - self.pad, x + self.pad, y + self.pad) for x, y in self.points]
        for line in pending.lines:  # a line is a row of small boxes
            ends = [axes.transData.transform(point) for point in line]
            for (x0, y0), (x1, y1) in itertools.pairwise(ends):
                for t in (i / 24 for i in range(25)):
                    x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                    self.taken.append(Bbox.from_extents(x - 1, y - 1, x + 1, y + 1))

    def extent(self, artist: Any) -> Any:
        """The text alone (an annotation's own extent spans its leader line too), with room for its backdrop."""
        from matplotlib.text import Annotation, Text

        if isinstance(artist, Annotation):
            artist.update_positions(self.renderer)
        return Text.get_window_extent(artist, self.renderer).padded(2.0)

    def cost(self, artist: Any, ignored: Collection[int]) -> float:
        from matplotlib.transforms import Bbox

        box = self.extent(artist)
        inside = Bbox.intersection(box, self.frame)
        outside = box.width * box.height - (inside.width * inside.height if inside else 0.0)
        covered = sum(_rect_overlap(box, other) for i, other in enumerate(self.taken) if i not in ignored)
        return float(3 * outside + covered)

    def keep_best(self, candidates: Iterator[Any], ignored: Collection[int] = ()) -> None:
        """Draw candidates one at a time, keep the cheapest (stopping at one that covers nothing)."""
        best: tuple[float, Any] | None = None
        for artist in candidates:
            artist.set_in_layout(False)
            score = self.cost(artist, ignored)
            if best is None or score < best[0]:
                if best is not None:
                    best[1].remove()
                best = (score, artist)
            else:
                artist.remove()
            if score == 0:
                break
        if best is not None:
            self.taken.append(self.extent(best[1]))

    def captions(self, y: float, text: str) -> Iterator[Any]:
        """A baseline's caption at either end of its line, above or below it."""
        from matplotlib.transforms import blended_transform_factory

        across = blended_transform_factory(self.axes.transAxes, self.axes.transData)
        for x in (0.995, 0.005):
            for va in ("bottom", "top"):
                yield self.axes.text(
                    x, y, f" {text} ", transform=across, ha="right" if x > 0.5 else "left", va=va, fontsize=7.5,
                    color=BASELINE_COLOR, zorder=4,
                )  # fmt: skip

    def labels(self, x: float, y: float, text: str, color: str) -> Iterator[Any]:
        """A point's label around it, nearest first; away from the point, with a leader line."""
        for radius, dx, dy in _OFFSETS:
            yield self.axes.annotate(
                text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7.5, color=color,
                ha="left" if dx > 1 else "right" if dx < -1 else "center",
                va="bottom" if dy > 1 else "top" if dy < -1 else "center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                arrowprops={"arrowstyle": "-", "color": color, "lw": 0.6, "shrinkA": 0, "shrinkB": 3.5}
                if radius > 6 else None,
                annotation_clip=False, zorder=5,
            )  # fmt: skip

    def same_place(self, index: int) -> set[int]:
        """The point and those drawn where it is (their markers hide each other anyway)."""
        x0, y0 = self.points[index]
        return {i for i, (x, y) in enumerate(self.points) if abs(x - x0) < self.pad and abs(y - y0) < self.pad}


def place_labels(figure: Figure, pending: Sequence[PendingLabels]) -> None:
    """Caption each baseline at one end of its line, then label each point, highest first, each where it
    covers no other text, point or line and stays inside its axes. Needs the final layout (drawn first)."""
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    for group in pending:
        placer = _Placer(group.axes, renderer, group)
        for y, text in group.captions:
            placer.keep_best(placer.captions(y, text))
        order = sorted(range(len(group.entries)), key=lambda i: (-group.entries[i][1], group.entries[i][0]))
        for index in order:
            x, y, text, color = group.entries[index]
            placer.keep_best(placer.labels(x, y, text, color), ignored=placer.same_place(index))
