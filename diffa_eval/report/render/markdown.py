"""GitHub Markdown: one header row `group · column`, best in bold, second underlined, footnotes below."""

from __future__ import annotations

from ..board import GroupedTable
from ..cost import COST_TITLE
from . import CellFormat, formatted_rows, header, row_name, same

_MARKDOWN = CellFormat("–", same, lambda t: f"**{t}**", lambda t: f"<ins>{t}</ins>", lambda h: f" ± {h:.2f}", same)


def to_markdown(table: GroupedTable, with_ci: bool = False) -> str:
    """The table as GitHub Markdown, footnotes as lines after it."""
    heads = [f"{c.group_title} · {header(c)}" for c in table.columns]
    heads += [f"{COST_TITLE} · {c.label}" for c in table.cost_columns]
    lines = ["| " + " | ".join(["model", *heads]) + " |", "|" + "|".join(["---", *(["---:"] * len(heads))]) + "|"]
    for row, values in formatted_rows(table, _MARKDOWN, with_ci):
        lines.append("| " + " | ".join([row_name(row), *values]) + " |")
    notes = "".join(f"\n{note}  " for note in table.footnotes)
    return "\n".join(lines) + ("\n" + notes.rstrip() if notes else "") + "\n"
