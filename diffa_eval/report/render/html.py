"""One self-contained HTML report: the leaderboard, its plots and a sample browser, with no external resources.

The page keeps a fixed width; the table scrolls inside its frame with the header and the model column
in view, and sorts by any column (best first on the first click). Plots come as a titled grid per
benchmark; the sample browser shows, per run behind the table, each sample's prompt, output, extracted
answer, reference, score and status, with the audio linked (played from the local file, never embedded).
The style and the script are inlined from `html_assets/`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..board import GroupedTable, Row
from ..cost import COST_TITLE
from . import CellFormat, formatted_rows, groups_with_cost, header, row_name


@dataclass(frozen=True)
class Plot:
    """One figure of the report: its title and inline markup (SVG, or an `<img>` with a data URI)."""

    title: str
    markup: str
    wide: bool = False
    """Spans the whole grid row (a figure with many panels)."""


@dataclass(frozen=True)
class PlotSection:
    """The plots of one benchmark, shown under its title."""

    title: str
    plots: Sequence[Plot]


_PAGE = CellFormat(
    "–",
    html.escape,
    lambda t: f"<strong>{t}</strong>",
    lambda t: f"<u>{t}</u>",
    lambda h: f' <span class="ci">±{h:.2f}</span>',
    html.escape,
)

_COST_BEST = {"samples_per_second": "high", "device": "text"}
"""How a cost column sorts best first (others: fewest first)."""


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("html_assets").joinpath(name).read_text(encoding="utf-8")


def _json_in_script(data: Any) -> str:
    """JSON that cannot end its <script> element early (`<`, `>` and `&` escaped as JSON allows)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _name_cell(row: Row) -> str:
    """The row's name: a variant's settings on a line of their own, so the model name never breaks."""
    name = row_name(row)
    prefix = f"{row.model} · "
    if row.kind == "measured" and name.startswith(prefix):
        variant = html.escape(name[len(prefix) :])
        return f'<span class="model">{html.escape(row.model)}</span><span class="variant">{variant}</span>'
    return f'<span class="model">{html.escape(name)}</span>'


def _table(table: GroupedTable, with_ci: bool) -> list[str]:
    starts = {0}
    position = 0
    for _, width in groups_with_cost(table):
        starts.add(position)
        position += width
    sorts = [("low" if c.lower_is_better else "high", header(c)) for c in table.columns]
    sorts += [(_COST_BEST.get(c.key, "low"), c.label) for c in table.cost_columns]

    def start(index: int) -> str:
        return ' class="group-start"' if index in starts and index else ""

    subheads = "".join(
        f'<th data-col="{i + 1}" data-best="{best}"{start(i)}><button type="button" class="sort">'
        f"{html.escape(text)}</button></th>"
        for i, (best, text) in enumerate(sorts)
    )
    parts = [
        '<div class="table-scroll" tabindex="0" role="region" aria-label="leaderboard">',
        '<table id="leaderboard" class="leaderboard">',
        "<thead>",
        '<tr><th rowspan="2" class="corner" data-col="0" data-best="text">'
        '<button type="button" class="sort">model</button></th>'
        + "".join(f'<th colspan="{width}">{html.escape(name)}</th>' for name, width in groups_with_cost(table))
        + "</tr>",
        f"<tr>{subheads}</tr>",
        "</thead>",
    ]
    block: list[str] = []
    for row, values in formatted_rows(table, _PAGE, with_ci):
        if row.kind != "delta" and block:  # a delta row stays with the row above it when sorting
            parts += ["<tbody>", *block, "</tbody>"]
            block = []
        cells = "".join(f"<td{start(i)}>{value}</td>" for i, value in enumerate(values))
        block.append(f'<tr class="{row.kind}"><td>{_name_cell(row)}</td>{cells}</tr>')
    if block:
        parts += ["<tbody>", *block, "</tbody>"]
    parts += ["</table>", "</div>"]
    return parts


def _plots(sections: Sequence[PlotSection]) -> list[str]:
    parts = ['<section id="plots">', "<h2>Plots</h2>"]
    for section in sections:
        parts += [f"<h3>{html.escape(section.title)}</h3>", '<div class="plot-grid">']
        for plot in section.plots:
            wide = ' class="wide"' if plot.wide else ""
            parts.append(f"<figure{wide}><figcaption>{html.escape(plot.title)}</figcaption>{plot.markup}</figure>")
        parts.append("</div>")
    parts.append("</section>")
    return parts


def _samples(data: Mapping[str, Any]) -> list[str]:
    return [
        '<section id="samples">',
        "<h2>Samples</h2>",
        '<p class="hint">Every sample of each run behind the table: pick a run, filter by status or category, '
        "open a sample for its prompt, output, extracted answer, reference and score. Audio read from local "
        "files is linked, not copied into the page.</p>",
        '<noscript><p class="hint">The sample browser needs JavaScript.</p></noscript>',
        '<div id="sample-browser" class="browser" hidden>',
        '<div class="controls">',
        '<label class="run">run <select class="run"></select></label>',
        '<label>status <span class="status-filter" role="group" aria-label="status"></span></label>',
        '<label>category <select class="category"></select></label>',
        '<label>search <input class="search" type="search" placeholder="id, prompt, output, reference"></label>',
        "</div>",
        '<p class="summary" aria-live="polite"></p>',
        '<ol class="sample-list"></ol>',
        '<div class="pager"><button type="button" class="prev">previous</button>'
        '<button type="button" class="next">next</button></div>',
        "</div>",
        f'<script type="application/json" id="sample-data">{_json_in_script(data)}</script>',
        "</section>",
    ]


def to_html(
    table: GroupedTable,
    with_ci: bool = False,
    title: str = "diffa-eval leaderboard",
    figures: Sequence[PlotSection] = (),
    samples: Mapping[str, Any] | None = None,
) -> str:
    """A self-contained HTML page: the table, then `figures` (see `plots.report_figures`), then a sample
    browser over `samples` (see `samples.sample_browser_data`) when given."""
    measured = sum(1 for row in table.rows if row.kind == "measured")
    groups = len({(c.benchmark, c.split) for c in table.columns})
    facts = [
        f"{measured} model row{'s' if measured != 1 else ''}",
        f"{groups} column group{'s' if groups != 1 else ''}",
    ]
    if table.cost_columns:
        facts.append(f"{COST_TITLE} per sample")
    links = [("leaderboard", "Leaderboard")]
    links += [("plots", "Plots")] if figures else []
    links += [("samples", "Samples")] if samples and samples.get("runs") else []
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_asset('report.css')}</style></head>",
        "<body>",
        '<main class="page">',
        f'<header class="report"><h1>{html.escape(title)}</h1><p>{html.escape(" · ".join(facts))}</p></header>',
        '<nav class="sections">' + "".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in links) + "</nav>",
        '<section id="leaderboard-section">',
        "<h2>Leaderboard</h2>",
        '<p class="hint">Bold: best in its column, underlined: second. Click a column header to sort, best first; '
        "click again to reverse.</p>",
        *_table(table, with_ci),
    ]
    if table.footnotes:
        parts.append('<div class="notes">' + "".join(f"<p>{html.escape(n)}</p>" for n in table.footnotes) + "</div>")
    parts.append("</section>")
    if figures:
        parts += _plots(figures)
    if samples and samples.get("runs"):
        parts += _samples(samples)
    parts += [f"<script>{_asset('report.js')}</script>", "</main>", "</body>", "</html>"]
    return "\n".join(parts) + "\n"
