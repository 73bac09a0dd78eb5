"""The terminal table (rich): best bold, second underlined, footnotes as the caption."""

from __future__ import annotations

from typing import Any

from ..cost import COST_TITLE
from ..table import GroupedTable
from . import CellFormat, formatted_rows, header, row_name


def to_rich(table: GroupedTable, with_ci: bool = False) -> Any:
    """A rich Table for the terminal."""
    from rich.markup import escape
    from rich.table import Table

    out = Table(title="diffa-eval leaderboard", caption="\n".join(map(escape, table.footnotes)) or None)
    out.add_column("model", style="bold")
    for column in table.columns:
        out.add_column(escape(f"{column.group_title}\n{header(column)}"), justify="right")
    for cost in table.cost_columns:
        out.add_column(escape(f"{COST_TITLE}\n{cost.label}"), justify="right")
    terminal = CellFormat(
        "–",
        escape,
        lambda t: f"[bold]{t}[/bold]",
        lambda t: f"[underline]{t}[/underline]",
        lambda h: f" ±{h:.2f}",
        escape,
    )
    for row, values in formatted_rows(table, terminal, with_ci):
        out.add_row(escape(row_name(row)), *values)
    return out
