"""Leaderboards in one import: `build_table` (see `table`) and a writer per format (see `render`)."""

from __future__ import annotations

from .board import Cell, Column, GroupedTable, Row
from .render.data import to_csv, to_json
from .render.html import to_html
from .render.latex import latex_escape, to_latex
from .render.markdown import to_markdown
from .render.terminal import to_rich
from .table import build_table

__all__ = [
    "Cell",
    "Column",
    "GroupedTable",
    "Row",
    "build_table",
    "latex_escape",
    "to_csv",
    "to_html",
    "to_json",
    "to_latex",
    "to_markdown",
    "to_rich",
]
