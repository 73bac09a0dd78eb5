"""The terminal table (rich): best bold, second underlined, footnotes under it at the console's width.

A table wider than the terminal is split into several, by benchmark group (a group wider than the
terminal on its own by its columns), each with the model column, so that no name or number is cut;
the split is decided when the table is printed, at the console's width.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..board import NOT_RUN, GroupedTable
from ..cost import COST_TITLE
from . import CellFormat, formatted_rows, header, row_name

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions


@dataclass(frozen=True)
class _Column:
    """A displayed column: its group's title, its sub-header and its cell texts (rich markup) per row."""

    group: str
    label: str
    cells: list[str]
    """Markup of each row's cell."""
    widths: list[int]
    """Printed width of each row's cell."""


def _wrap(text: str, width: int) -> str:
    """Words of `text` on lines of at most `width` characters (a longer word on a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


class TerminalTable:
    """A leaderboard that rich prints as one table when it fits the console's width, else as several."""

    def __init__(self, table: GroupedTable, with_ci: bool = False) -> None:
        from rich.markup import escape
        from rich.text import Text

        self.footnotes = table.footnotes
        terminal = CellFormat(
            NOT_RUN,
            escape,
            lambda t: f"[bold]{t}[/bold]",
            lambda t: f"[underline]{t}[/underline]",
            lambda h: f" ±{h:.2f}",
            escape,
            lambda gap: f"[italic]{escape(gap)}[/italic]",
        )
        rows = formatted_rows(table, terminal, with_ci)
        self.names = [escape(row_name(row)) for row, _ in rows]
        splits = {c.split for c in table.columns}
        # one split other than test for every column: named once in the title, not in every header
        self.title = "diffa-eval leaderboard"
        if len(splits) == 1 and splits != {"test"}:
            self.title += f" ({next(iter(splits))} split)"
        labels = [(c.title if len(splits) == 1 else c.group_title, header(c)) for c in table.columns]
        labels += [(COST_TITLE, c.label) for c in table.cost_columns]
        self.columns = []
        for j, (group, label) in enumerate(labels):
            cells = [values[j] for _, values in rows]
            self.columns.append(_Column(group, label, cells, [Text.from_markup(cell).cell_len for cell in cells]))

    def tables(self, width: int, console: Console) -> list[Any]:
        """The rich Tables to print at `width`: the whole table, or groups packed into tables that fit."""
        blocks: list[list[_Column]] = []
        current: list[_Column] = []
        for group in _groups(self.columns):
            if self._fits([*current, *group], width, console):
                current += group
                continue
            if current:
                blocks.append(current)
                current = []
            for column in group:  # the group alone, or as many of its columns as fit
                if current and not self._fits([*current, column], width, console):
                    blocks.append(current)
                    current = []
                current.append(column)
        if current or not blocks:
            blocks.append(current)
        return [self._table(block, first=n == 0) for n, block in enumerate(blocks)]

    def _fits(self, columns: Sequence[_Column], width: int, console: Console) -> bool:
        # measured without a bound: rich clamps a measurement to the width it is given
        unbounded = console.options.update_width(1_000_000)
        return console.measure(self._table(columns, first=True), options=unbounded).maximum <= width

    def _table(self, columns: Sequence[_Column], first: bool) -> Any:
        from rich.markup import escape
        from rich.table import Table

        out = Table(title=escape(self.title) if first else None)
        out.add_column("model", style="bold", overflow="fold")
        for column in columns:
            # the group title is wrapped to the column's own width, so that it never widens the column
            own = max([len(column.label), *column.widths, *(len(word) for word in column.group.split())])
            out.add_column(escape(f"{_wrap(column.group, own)}\n{column.label}"), justify="right", overflow="fold")
        for i, name in enumerate(self.names):
            out.add_row(name, *(column.cells[i] for column in columns))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Any]:
        from rich.markup import escape
        from rich.text import Text

        tables = self.tables(options.max_width, console)
        for n, table in enumerate(tables):
            if n:
                yield Text("")
            yield table
        if self.footnotes:  # under the tables at the console's width, not a narrow table's
            yield Text.from_markup("\n".join(map(escape, self.footnotes)))


def _groups(columns: Sequence[_Column]) -> list[list[_Column]]:
    groups: list[list[_Column]] = []
    for column in columns:
        if groups and groups[-1][0].group == column.group:
            groups[-1].append(column)
        else:
            groups.append([column])
    return groups


def to_rich(table: GroupedTable, with_ci: bool = False) -> TerminalTable:
    """The table for the terminal: print it with a rich Console; it splits itself to the console's width."""
    return TerminalTable(table, with_ci)
