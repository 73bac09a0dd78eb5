"""LaTeX: booktabs tables that fit the page, with a caption that says what they show and short notes.

Each tabular is shrunk to the line width when it is wider, and to the page's height less the caption and
notes when taller (adjustbox's `max totalsize`), never enlarged.
Layouts: `wide` (one tabular, benchmarks side by side), `split` (benchmarks packed into tabulars that
fit, stacked in one float), `transposed` (benchmarks as rows, models as columns) and `auto` (wide when
it fits; else split across a two-column page, and in one column whichever of the two shrinks less).
Each quality column is a pair of tabular columns, the value right-aligned and its interval and marks
after it, so numbers line up.
Dataset revisions go in comments, or in a notes line when asked.

One module on purpose: the layouts are chosen from width estimates of the very cells and headers this
module writes, so the estimating and the writing stay together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..board import NOT_RUN, Column, GroupedTable, Row
from ..cost import COST_TITLE, format_cost
from . import arrow, half_width, marks, number, row_name

LAYOUTS = ("auto", "wide", "split", "transposed")

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "†": r"\textsuperscript{\dag}",
    "§": r"\textsuperscript{\S}",
    "‡": r"\textsuperscript{\ddag}",
    "Δ": r"$\Delta$",
    "−": "--",
    "±": r"$\pm$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "·": r"$\cdot$",
    "–": "--",
    "τ": r"$\tau$",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}

# Widths of the common venues' text blocks, for choosing a layout: a one-column article's line (345 pt;
# NeurIPS and ICLR have 397 pt) and a two-column page's full width (table*; 470 to 505 pt).
_ONE_COLUMN_PT = 345.0
_TWO_COLUMN_PT = 470.0
# Rough widths in the table's \small (9 pt) Computer Modern: a character, a scriptsize one, and the
# padding around a tabular column (estimates within 5% of pdflatex's for the sample-suite tables).
_CHAR_PT = 4.6
_SMALL_CHAR_PT = 3.4
_PAD_PT = 12.0
# `auto` keeps the wide layout when it needs no more shrinking than this (type at 85% stays readable).
_KEEP_WIDE = 0.85
# The box that holds a table's notes while the tabulars are sized (allocated once per document).
_NOTES_BOX = r"\leaderboardnotes"
# Lines of a model name in a transposed header are broken at spaces to about this many characters.
_HEADER_CHARS = 14


def latex_escape(text: str) -> str:
    """Text as LaTeX source: special characters escaped, the few symbols used in tables as commands."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _latex_number(text: str) -> str:
    """A signed number with a math minus or plus, so it does not print as a hyphen."""
    return f"${text[0]}${text[1:]}" if text and text[0] in "+-" else text


@dataclass(frozen=True)
class _Cell:
    """One cell as LaTeX: the value (right-aligned) and what follows it (interval and marks, left-aligned),
    with their plain-text lengths for estimating widths."""

    value: str
    after: str = ""
    value_chars: int = 0
    after_chars: int = 0

    @property
    def width_pt(self) -> float:
        return self.value_chars * _CHAR_PT + self.after_chars * _SMALL_CHAR_PT


@dataclass(frozen=True)
class _Col:
    """A displayed column: a quality column (value and interval as a pair of tabular columns) or a cost one."""

    key: str
    group: str
    label: str
    pair: bool


def _columns(table: GroupedTable) -> list[_Col]:
    one_split = len({c.split for c in table.columns}) == 1
    cols = [
        _Col(c.key, c.title if one_split else c.group_title, f"{c.spec.label} {arrow(c)}", True) for c in table.columns
    ]
    return cols + [_Col(f"cost:{c.key}", COST_TITLE, c.label, False) for c in table.cost_columns]


def _cells(table: GroupedTable, with_ci: bool) -> dict[tuple[int, str], _Cell]:
    """Every cell of every row by (row index, column key); cost cells under `cost:<key>`."""
    ranks = table.ranks()
    out: dict[tuple[int, str], _Cell] = {}
    for i, row in enumerate(table.rows):
        for column in table.columns:
            out[(i, column.key)] = _quality_cell(row, column, ranks.get((i, column.key)), with_ci)
        for cost in table.cost_columns:
            text = format_cost(None if row.cost is None else cost.value(row.cost))
            out[(i, f"cost:{cost.key}")] = _Cell(latex_escape(text or NOT_RUN), "", len(text or NOT_RUN))
    return out


def _quality_cell(row: Row, column: Column, rank: int | None, with_ci: bool) -> _Cell:
    cell = row.cells.get(column.key)
    if cell is None:
        gap = row.gaps.get(column.key)
        return _Cell(rf"\textit{{{gap}}}", "", len(gap)) if gap else _Cell(latex_escape(NOT_RUN), "", 1)
    plain = number(cell, row.kind)
    value = _latex_number(plain)
    value = rf"\textbf{{{value}}}" if rank == 1 else rf"\underline{{{value}}}" if rank == 2 else value
    half = half_width(cell) if with_ci else None
    interval = "" if half is None else f"{half:.2f}"
    signs = marks(cell)
    after = (rf"{{\scriptsize\,$\pm${interval}}}" if interval else "") + latex_escape(signs)
    return _Cell(value, after, len(plain), len(interval) + 1 + len(signs) if interval else len(signs))


@dataclass(frozen=True)
class _Block:
    """One tabular of the wide or split layout: some column groups, and the rows that have values there."""

    groups: list[tuple[str, list[_Col]]]
    rows: list[int]


def _groups(cols: Sequence[_Col]) -> list[tuple[str, list[_Col]]]:
    groups: list[tuple[str, list[_Col]]] = []
    for col in cols:
        if groups and groups[-1][0] == col.group:
            groups[-1][1].append(col)
        else:
            groups.append((col.group, [col]))
    return groups


def _block_rows(table: GroupedTable, cols: Sequence[_Col]) -> list[int]:
    """Rows with a value, a gap or a cost in these columns (all rows for the whole table)."""
    keys = {col.key for col in cols}
    return [
        i
        for i, row in enumerate(table.rows)
        if any(k in keys for k in (*row.cells, *row.gaps)) or (row.cost is not None and any(not c.pair for c in cols))
    ]


def _row_names(table: GroupedTable, rows: Sequence[int]) -> dict[int, tuple[str, bool]]:
    """Each row's name as the first column shows it, and whether it is indented: a variant row that follows
    a row of its model shows only its variant's label, under the model's name, as papers list ablations."""
    names: dict[int, tuple[str, bool]] = {}
    previous: Row | None = None
    for i in rows:
        row = table.rows[i]
        prefix = f"{row.model} · "
        under = previous is not None and previous.kind == "measured" and previous.model == row.model
        if row.kind == "measured" and under and row.name.startswith(prefix):
            names[i] = (row.name[len(prefix) :], True)
        else:
            names[i] = (row_name(row), False)
        previous = row
    return names


def _name_width(table: GroupedTable, rows: Sequence[int]) -> float:
    names = _row_names(table, rows).values()
    return max((len(name) + 2 * indented for name, indented in names), default=5) * _CHAR_PT + _PAD_PT


def _col_width(col: _Col, rows: Sequence[int], cells: dict[tuple[int, str], _Cell]) -> float:
    widest = max((cells[(i, col.key)].width_pt for i in rows), default=0.0)
    return max(widest, len(col.label) * _CHAR_PT) + _PAD_PT


def _block_width(table: GroupedTable, block: _Block, cells: dict[tuple[int, str], _Cell]) -> float:
    total = _name_width(table, block.rows)
    for title, cols in block.groups:
        total += max(sum(_col_width(c, block.rows, cells) for c in cols), len(title) * _CHAR_PT + _PAD_PT)
    return total


def _split(
    table: GroupedTable, cols: Sequence[_Col], cells: dict[tuple[int, str], _Cell], budget: float
) -> list[_Block]:
    """Groups packed in order into blocks no wider than `budget` (a group wider on its own gets a block)."""
    blocks: list[_Block] = []
    current: list[tuple[str, list[_Col]]] = []
    for group in _groups(cols):
        candidate = [*current, group]
        block = _Block(candidate, _block_rows(table, [c for _, g in candidate for c in g]))
        if current and _block_width(table, block, cells) > budget:
            blocks.append(_Block(current, _block_rows(table, [c for _, g in current for c in g])))
            candidate = [group]
        current = candidate
    if current:
        blocks.append(_Block(current, _block_rows(table, [c for _, g in current for c in g])))
    return blocks


def _wide_lines(table: GroupedTable, block: _Block, cells: dict[tuple[int, str], _Cell]) -> list[str]:
    """One tabular: a header row of groups over sub-columns, then the rows (reported ones after a rule)."""
    spec = "l" + "".join("r@{}l" if c.pair else "r" for _, cols in block.groups for c in cols)
    heads, rules, subheads, position = [], [], [], 2
    for title, cols in block.groups:
        width = sum(2 if c.pair else 1 for c in cols)
        heads.append(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(title)}}}")
        rules.append(rf"\cmidrule(lr){{{position}-{position + width - 1}}}")
        position += width
        subheads += [
            rf"\multicolumn{{2}}{{c}}{{{latex_escape(c.label)}}}" if c.pair else latex_escape(c.label) for c in cols
        ]
    lines = [rf"\begin{{tabular}}{{@{{}}{spec}@{{}}}}", r"\toprule", " & ".join(["", *heads]) + r" \\", " ".join(rules)]
    lines += [" & ".join(["Model", *subheads]) + r" \\", r"\midrule"]
    previous = None
    names = _row_names(table, block.rows)
    for i in block.rows:
        row = table.rows[i]
        if previous is not None and row.kind == "reported" and previous != "reported":
            lines.append(r"\midrule")
        previous = row.kind
        values = []
        for _, cols in block.groups:
            for col in cols:
                cell = cells[(i, col.key)]
                values += [cell.value, cell.after] if col.pair else [cell.value]
        name, indented = names[i]
        lines.append(" & ".join([(r"\quad " if indented else "") + latex_escape(name), *values]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return lines


def _header_lines(name: str) -> list[str]:
    """A model's name broken for a column header: the variant after " · " on lines of its own."""
    model, _, variant = name.partition(" · ")
    lines = [model]
    for word in variant.split():
        if len(lines) > 1 and len(lines[-1]) + 1 + len(word) <= _HEADER_CHARS:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _transposed_width(table: GroupedTable, cols: Sequence[_Col], cells: dict[tuple[int, str], _Cell]) -> float:
    stub = max((len(c.label) + 2 for c in cols), default=5) * _CHAR_PT + _PAD_PT
    models = [
        max(
            max(len(line) for line in _header_lines(row_name(row))) * _CHAR_PT,
            max((cells[(i, c.key)].width_pt for c in cols), default=0.0),
        )
        + _PAD_PT
        for i, row in enumerate(table.rows)
    ]
    return stub + sum(models)


def _transposed_lines(table: GroupedTable, cols: Sequence[_Col], cells: dict[tuple[int, str], _Cell]) -> list[str]:
    """Benchmarks as rows (a heading row per group, its columns under it), models as columns."""
    n = len(table.rows)
    heads = []
    for row in table.rows:
        lines = [latex_escape(line) for line in _header_lines(row_name(row))]
        text = lines[0] if len(lines) == 1 else r"\begin{tabular}[b]{@{}c@{}}" + r"\\".join(lines) + r"\end{tabular}"
        heads.append(rf"\multicolumn{{2}}{{c}}{{{text}}}")
    lines = [
        rf"\begin{{tabular}}{{@{{}}l{'r@{}l' * n}@{{}}}}",
        r"\toprule",
        " & ".join(["", *heads]) + r" \\",
        r"\midrule",
    ]
    for g, (title, group) in enumerate(_groups(cols)):
        if g:
            lines.append(r"\addlinespace")
        lines.append(rf"\multicolumn{{{1 + 2 * n}}}{{@{{}}l}}{{\textit{{{latex_escape(title)}}}}} \\")
        for col in group:
            values = []
            for i in range(n):
                cell = cells[(i, col.key)]
                # a cost value in the value column, so that it lines up with the numbers above it
                values += [cell.value, cell.after]
            lines.append(" & ".join([rf"\quad {latex_escape(col.label)}", *values]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return lines


def _shrink(width: float, budget: float) -> float:
    return min(1.0, budget / width) if width > 0 else 1.0


def _choose_layout(
    table: GroupedTable, cols: Sequence[_Col], cells: dict[tuple[int, str], _Cell], budget: float, two_column: bool
) -> str:
    """`auto`: wide when it fits; else, across a two-column page, split (a page-wide float should stay short);
    else split or transposed, whichever shrinks its widest tabular less."""
    everything = _Block(_groups(cols), list(range(len(table.rows))))
    if _shrink(_block_width(table, everything, cells), budget) >= _KEEP_WIDE:
        return "wide"
    if two_column:
        return "split"
    split = min(_shrink(_block_width(table, block, cells), budget) for block in _split(table, cols, cells, budget))
    transposed = _shrink(_transposed_width(table, cols, cells), budget)
    return "transposed" if transposed > split else "split"


def default_caption(table: GroupedTable) -> str:
    """What the table shows: its benchmarks, their split when all share one, and the cost when shown."""
    titles = list(dict.fromkeys(c.title for c in table.columns))
    named = ", ".join(titles[:-1]) + f" and {titles[-1]}" if len(titles) > 1 else "".join(titles)
    splits = {c.split for c in table.columns}
    text = f"Results on {named}" if titles else "Results"
    if len(splits) == 1 and splits != {"test"}:
        text += f" ({next(iter(splits))} split)"
    if table.cost_columns:
        text += ", with the compute cost per sample"
    return text + "."


def _legend(table: GroupedTable, cells: dict[tuple[int, str], _Cell], with_ci: bool) -> str:
    """What arrows, bold, underline and ± mean, naming only those the table shows."""
    ranks = set(table.ranks().values())
    parts = [r"$\uparrow$/$\downarrow$: higher/lower is better"] if table.columns else []
    if 1 in ranks:
        parts.append(r"\textbf{bold}: best")
    if 2 in ranks:
        parts.append(r"\underline{underlined}: second")
    if with_ci and any(r"$\pm$" in cell.after for cell in cells.values()):
        parts.append(r"$\pm$: half-width of the 95\% bootstrap interval")
    return "; ".join(parts)


def _breakable(text: str) -> str:
    """Escaped text that may break after / : @ and ; (dataset ids and revisions have no spaces)."""
    return re.sub(r"([/:@;])", r"\1\\allowbreak{}", latex_escape(text))


def to_latex(
    table: GroupedTable,
    with_ci: bool = False,
    caption: str | None = None,
    label: str = "tab:results",
    standalone: bool = False,
    layout: str = "auto",
    two_column: bool = False,
    provenance: bool = False,
) -> str:
    """The table as LaTeX: one float (`table*` across both columns with `two_column`) of booktabs tabulars,
    each shrunk to the line width when wider; needs `\\usepackage{booktabs,adjustbox}` (a full document
    with `standalone`). `caption` defaults to `default_caption`; `provenance` adds the dataset revisions
    as a notes line (they are always in comments above the float)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")
    cols = _columns(table)
    cells = _cells(table, with_ci)
    budget = _TWO_COLUMN_PT if two_column else _ONE_COLUMN_PT
    chosen = _choose_layout(table, cols, cells, budget, two_column) if layout == "auto" else layout
    if chosen == "transposed":
        tabulars = [_transposed_lines(table, cols, cells)]
    else:
        blocks = (
            _split(table, cols, cells, budget)
            if chosen == "split"
            else [_Block(_groups(cols), _block_rows(table, cols))]
        )
        tabulars = [_wide_lines(table, block, cells) for block in blocks]
    float_name = "table*" if two_column else "table"
    lines = [rf"\begin{{{float_name}}}[t]", r"\centering", r"\small"]
    lines += [rf"\caption{{{latex_escape(caption or default_caption(table))}}}", rf"\label{{{label}}}"]
    notes = [_legend(table, cells, with_ci)] + [latex_escape(n) for n in table.footnotes if n != table.data_note]
    if provenance and table.datasets:
        notes.append("Data: " + _breakable("; ".join(table.datasets)))
    notes = [note if note.endswith(".") else note + "." for note in notes if note]
    # The notes are set in a box first, so that the tabulars are shrunk to the height the page has left
    # besides them and the caption (about five lines), and the float never outgrows the page.
    height = r"\textheight-5\baselineskip"
    if notes:  # one paragraph, ragged, so that long words never stretch a line
        lines += [
            rf"\ifdefined{_NOTES_BOX}\else\newsavebox{_NOTES_BOX}\fi",
            rf"\sbox{_NOTES_BOX}{{\parbox{{\linewidth}}{{\footnotesize\raggedright",
            *notes,
            "}}",
        ]
        height += rf"-\ht{_NOTES_BOX}-\dp{_NOTES_BOX}"
    lines.append(rf"\begin{{adjustbox}}{{max totalsize={{\linewidth}}{{{height}}}}}")
    if len(tabulars) == 1:
        lines += tabulars[0]
    else:  # stacked in one box, so that every block is shrunk alike; flush left, so their model columns line up
        lines.append(r"\begin{tabular}{@{}l@{}}")
        for n, tabular in enumerate(tabulars):
            lines += [*tabular, r"\\ \noalign{\vskip\medskipamount}" if n < len(tabulars) - 1 else ""]
        lines[-1] = r"\end{tabular}"
    lines.append(r"\end{adjustbox}")
    if notes:
        lines += [r"\par\smallskip", rf"\usebox{_NOTES_BOX}"]
    lines.append(rf"\end{{{float_name}}}")
    head = ["% diffa-eval leaderboard; requires \\usepackage{booktabs,adjustbox}"]
    head += [f"% Data: {version}" for version in table.datasets]
    body = "\n".join(head + lines) + "\n"
    if not standalone:
        return body
    options = "[twocolumn]" if two_column else ""
    return (
        f"\\documentclass{options}{{article}}\n\\usepackage{{booktabs,adjustbox}}\n"
        "\\begin{document}\n" + body + "\\end{document}\n"
    )
