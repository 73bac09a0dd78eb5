"""LaTeX: a booktabs table with a two-level header (groups over sub-columns), caption, label and footnotes."""

from __future__ import annotations

from ..table import GroupedTable
from . import CellFormat, formatted_rows, groups_with_cost, header, row_name

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


def latex_escape(text: str) -> str:
    """Text as LaTeX source: special characters escaped, the few symbols used in tables as commands."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _latex_number(text: str) -> str:
    """A signed number with a math minus or plus, so it does not print as a hyphen."""
    return f"${text[0]}${text[1:]}" if text and text[0] in "+-" else text


_LATEX = CellFormat(
    "--",
    _latex_number,
    lambda t: rf"\textbf{{{t}}}",
    lambda t: rf"\underline{{{t}}}",
    lambda h: rf"{{\scriptsize$\pm${h:.2f}}}",
    latex_escape,
)


def to_latex(
    table: GroupedTable,
    with_ci: bool = False,
    caption: str = "Results.",
    label: str = "tab:results",
    standalone: bool = False,
) -> str:
    """A booktabs table with a two-level header; needs `\\usepackage{booktabs}` (a full document with `standalone`)."""
    groups = groups_with_cost(table)
    spec = "l" + "".join("r" * width for _, width in groups)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{latex_escape(caption)}}}"]
    lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    heads, rules, position = [], [], 2
    for title, width in groups:
        heads.append(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(title)}}}")
        rules.append(rf"\cmidrule(lr){{{position}-{position + width - 1}}}")
        position += width
    lines.append(" & ".join(["", *heads]) + r" \\")
    lines.append(" ".join(rules))
    labels = [latex_escape(header(c)) for c in table.columns] + [latex_escape(c.label) for c in table.cost_columns]
    lines.append(" & ".join(["Model", *labels]) + r" \\")
    lines.append(r"\midrule")
    previous_kind = None
    for row, values in formatted_rows(table, _LATEX, with_ci):
        if previous_kind is not None and row.kind == "reported" and previous_kind != "reported":
            lines.append(r"\midrule")
        previous_kind = row.kind
        lines.append(" & ".join([latex_escape(row_name(row)), *values]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.footnotes:
        lines.append(r"\par\smallskip\parbox{\linewidth}{\footnotesize")
        lines.append("\\\\\n".join(latex_escape(note) for note in table.footnotes) + "}")
    lines.append(r"\end{table}")
    body = "\n".join(lines) + "\n"
    if not standalone:
        return "% requires \\usepackage{booktabs}\n" + body
    return (
        "\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
        "\\usepackage[margin=1cm,landscape]{geometry}\n\\begin{document}\n" + body + "\\end{document}\n"
    )
