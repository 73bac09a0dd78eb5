"""One self-contained HTML page: the table with a two-level header, footnotes, and inline figures."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..table import GroupedTable
from . import CellFormat, formatted_rows, groups_with_cost, header, row_name

_HTML_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1a1a1a; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead tr:first-child th { border-bottom: 1px solid #888; text-align: center; }
thead { border-top: 2px solid #000; border-bottom: 1px solid #000; }
tbody { border-bottom: 2px solid #000; }
tr.reported td { color: #555; }
tr.delta td { color: #555; font-style: italic; }
.ci { font-size: 0.75em; color: #666; }
.notes { font-size: 0.85em; color: #444; }
figure { margin: 1.5rem 0; }
"""

_PAGE = CellFormat(
    "–",
    html.escape,
    lambda t: f"<strong>{t}</strong>",
    lambda t: f"<u>{t}</u>",
    lambda h: f' <span class="ci">±{h:.2f}</span>',
    html.escape,
)


def to_html(
    table: GroupedTable, with_ci: bool = False, title: str = "diffa-eval leaderboard", figures: Sequence[str] = ()
) -> str:
    """A self-contained HTML page (no external resources); `figures` are inline SVG or `<img>` markup."""
    subheads = [header(c) for c in table.columns] + [c.label for c in table.cost_columns]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_HTML_STYLE}</style></head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        '<table id="leaderboard">',
        "<thead>",
        '<tr><th rowspan="2">model</th>'
        + "".join(f'<th colspan="{width}">{html.escape(name)}</th>' for name, width in groups_with_cost(table))
        + "</tr>",
        "<tr>" + "".join(f"<th>{html.escape(text)}</th>" for text in subheads) + "</tr>",
        "</thead>",
        "<tbody>",
    ]
    for row, values in formatted_rows(table, _PAGE, with_ci):
        cells = "".join(f"<td>{value}</td>" for value in values)
        parts.append(f'<tr class="{row.kind}"><td>{html.escape(row_name(row))}</td>{cells}</tr>')
    parts += ["</tbody>", "</table>"]
    if table.footnotes:
        parts.append('<div class="notes">' + "".join(f"<p>{html.escape(n)}</p>" for n in table.footnotes) + "</div>")
    parts += [f"<figure>{figure}</figure>" for figure in figures]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
