"""Writers of a `GroupedTable`: terminal (rich), Markdown, LaTeX (booktabs), HTML, CSV and JSON.

Every format shows the same thing: best value per column bold, second underlined (by the metric's
direction), marks `*` (some samples failed), `§` (self-reported), `‡` (partial run), reported rows `†`,
and the cost columns when the table has them. This module holds what the formats share; `verdict` writes
`compare`'s verdict (Markdown and JSON).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..board import Cell, Column, GroupedTable, Row
from ..cost import COST_TITLE, format_cost


def cost_values(table: GroupedTable, row: Row) -> list[float | str | None]:
    """The row's cost figures in column order (None where unknown or for rows without cost)."""
    return [None if row.cost is None else column.value(row.cost) for column in table.cost_columns]


def number(cell: Cell, kind: str) -> str:
    if kind == "delta":
        return f"{cell.value:+.2f}"
    return f"{cell.value:.2f}"


def half_width(cell: Cell) -> float | None:
    if cell.ci_low is None or cell.ci_high is None or math.isnan(cell.ci_low) or math.isnan(cell.ci_high):
        return None
    return (cell.ci_high - cell.ci_low) / 2


def marks(cell: Cell) -> str:
    return ("*" if cell.n_failed else "") + ("§" if cell.self_reported else "") + ("‡" if cell.partial else "")


def row_name(row: Row) -> str:
    return row.name + ("†" if row.kind == "reported" else "")


def arrow(column: Column) -> str:
    return "↓" if column.lower_is_better else "↑"


def header(column: Column) -> str:
    """A quality column's sub-header: its label and direction."""
    return f"{column.spec.label} {arrow(column)}"


def same(text: str) -> str:
    return text


@dataclass(frozen=True)
class CellFormat:
    """How one output format writes a cell: the number, then its rank's emphasis, the CI, the marks."""

    missing: str
    number: Callable[[str], str]
    best: Callable[[str], str]
    second: Callable[[str], str]
    ci: Callable[[float], str]
    marks: Callable[[str], str]
    gap: Callable[[str], str] = same
    """How a cell that a run left empty shows why (`Row.gaps`: failed, pending, n/a, partial)."""


def formatted_rows(table: GroupedTable, style: CellFormat, with_ci: bool) -> list[tuple[Row, list[str]]]:
    """Each row with its cells written in one format, in column order, then its cost figures if any."""
    ranks = table.ranks()
    formatted = []
    for i, row in enumerate(table.rows):
        texts = []
        for column in table.columns:
            cell = row.cells.get(column.key)
            if cell is None:
                gap = row.gaps.get(column.key)
                texts.append(style.missing if gap is None else style.gap(gap))
                continue
            text = style.number(number(cell, row.kind))
            rank = ranks.get((i, column.key))
            text = style.best(text) if rank == 1 else style.second(text) if rank == 2 else text
            half = half_width(cell)
            if with_ci and half is not None:
                text += style.ci(half)
            texts.append(text + style.marks(marks(cell)))
        texts += [style.marks(format_cost(value)) or style.missing for value in cost_values(table, row)]
        formatted.append((row, texts))
    return formatted


def groups_with_cost(table: GroupedTable) -> list[tuple[str, int]]:
    """(group title, number of columns) of every header group, the cost group last."""
    groups = [(title, len(columns)) for title, columns in table.groups()]
    return groups + ([(COST_TITLE, len(table.cost_columns))] if table.cost_columns else [])
