"""Grouped leaderboards: benchmarks as column groups with sub-columns, measured and reported rows.

`build_table` turns stored runs (and, optionally, published numbers from `results/reported/`) into a
`GroupedTable`; `render` writes it as terminal (rich), Markdown, LaTeX (booktabs), CSV, JSON or a
self-contained HTML page. The best value per column is bold and the second best underlined, in the
direction of the metric (lower WER is better).
"""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..describe import GroupScore, ScoreInput
from ..errors import ConfigError
from ..store import StoredRun
from .reported import ReportedSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColumnSpec:
    """One sub-column: a task's metric, overall or for one breakdown label, or a task group's overall score."""

    label: str
    task: str
    metric: str
    breakdown: tuple[str, str] | None = None
    """(breakdown field, label), e.g. ("task", "sound") for MMAU's sound items."""
    lower_is_better: bool = False
    group_score: bool = False
    """The value is `task`'s group score (e.g. VoiceBench overall), computed from several runs."""


@dataclass(frozen=True)
class Benchmark:
    """A column group: its title, sub-columns in display order and the scoring protocol for footnotes."""

    name: str
    title: str
    columns: tuple[ColumnSpec, ...]
    protocol: str = ""

    @property
    def tasks(self) -> set[str]:
        return {c.task for c in self.columns if not c.group_score}


def _voicebench_columns() -> tuple[ColumnSpec, ...]:
    subsets = (
        ("alpacaeval", "voicebench_alpacaeval_full", "gpt_score"),
        ("commoneval", "voicebench_commoneval", "gpt_score"),
        ("wildvoice", "voicebench_wildvoice", "gpt_score"),
        ("sd-qa", "voicebench_sd_qa", "score"),
        ("mmsu", "voicebench_mmsu", "accuracy"),
        ("obqa", "voicebench_openbookqa", "accuracy"),
        ("bbh", "voicebench_bbh", "accuracy"),
        ("ifeval", "voicebench_ifeval", "final"),
        ("advbench", "voicebench_advbench", "refusal_rate"),
    )
    columns = [ColumnSpec(label, task, metric) for label, task, metric in subsets]
    return (*columns, ColumnSpec("overall", "voicebench", "overall", group_score=True))


def _mmau_columns(task: str) -> tuple[ColumnSpec, ...]:
    by_task = (ColumnSpec(label, task, "accuracy", ("task", label)) for label in ("sound", "music", "speech"))
    return (*by_task, ColumnSpec("avg", task, "accuracy"))


BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "mmau_test_mini",
            "MMAU test-mini",
            _mmau_columns("mmau_test_mini"),
            "MMAU: accuracy (%), official string match",
        ),
        Benchmark(
            "mmau_test",
            "MMAU test",
            _mmau_columns("mmau_test"),
            "MMAU test: accuracy (%) from the official MMAU-Eval server",
        ),
        Benchmark(
            "mmsu",
            "MMSU",
            (
                *(ColumnSpec(label, "mmsu", "accuracy", ("category", label)) for label in ("perception", "reasoning")),
                ColumnSpec("avg", "mmsu", "accuracy"),
            ),
            "MMSU: accuracy (%), official letter rule, unparsable answers left out",
        ),
        Benchmark(
            "mmar",
            "MMAR",
            (ColumnSpec("avg", "mmar", "accuracy"),),
            "MMAR: accuracy (%), official string match",
        ),
        Benchmark(
            "voicebench",
            "VoiceBench",
            _voicebench_columns(),
            "VoiceBench: judge scores 1-5 (alpacaeval, commoneval, wildvoice), others in %; "
            "overall is the mean of the nine with judge scores x20",
        ),
        Benchmark(
            "librispeech",
            "LibriSpeech WER",
            (
                ColumnSpec("clean", "librispeech_test_clean", "wer", lower_is_better=True),
                ColumnSpec("other", "librispeech_test_other", "wer", lower_is_better=True),
            ),
            "LibriSpeech: corpus WER (%), Whisper English normalizer on both sides",
        ),
    )
}
"""Default layout per benchmark; a task in none of them gets a group of its own with its primary metric."""


@dataclass(frozen=True)
class Column:
    """A sub-column as displayed: its benchmark group (per split) and its spec."""

    benchmark: str
    title: str
    split: str
    spec: ColumnSpec

    @property
    def key(self) -> str:
        """`benchmark:label`, plus `@split` for splits other than test."""
        base = f"{self.benchmark}:{self.spec.label}"
        return base if self.split == "test" else f"{base}@{self.split}"

    @property
    def group_title(self) -> str:
        return self.title if self.split == "test" else f"{self.title} ({self.split})"


@dataclass(frozen=True)
class Cell:
    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    n_failed: int = 0
    source: str = ""
    """The run directory, or the reported source's id."""
    self_reported: bool = False


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    """`measured`, `reported` or `delta` (measured - reported)."""
    cells: Mapping[str, Cell]


@dataclass(frozen=True)
class GroupedTable:
    columns: list[Column]
    rows: list[Row]
    footnotes: list[str] = field(default_factory=list)

    def groups(self) -> list[tuple[str, list[Column]]]:
        """Consecutive columns that share a group title, as (title, columns)."""
        groups: list[tuple[str, list[Column]]] = []
        for column in self.columns:
            if groups and groups[-1][0] == column.group_title and groups[-1][1][0].benchmark == column.benchmark:
                groups[-1][1].append(column)
            else:
                groups.append((column.group_title, [column]))
        return groups

    def ranks(self) -> dict[tuple[int, str], int]:
        """(row index, column key) -> 1 for the best value in the column, 2 for the second; ties share a rank."""
        ranks: dict[tuple[int, str], int] = {}
        for column in self.columns:
            ranked = [
                (i, row.cells[column.key].value)
                for i, row in enumerate(self.rows)
                if row.kind != "delta" and column.key in row.cells
            ]
            if len(ranked) < 2:
                continue
            sign = 1.0 if column.spec.lower_is_better else -1.0
            distinct = sorted({round(sign * value, 6) for _, value in ranked})
            for i, value in ranked:
                position = distinct.index(round(sign * value, 6)) + 1
                if position <= 2:
                    ranks[(i, column.key)] = position
        return ranks


def _benchmark_for(task: str, metric: str, lower_is_better: bool) -> Benchmark:
    for benchmark in BENCHMARKS.values():
        if task in benchmark.tasks:
            return benchmark
    return Benchmark(task, task, (ColumnSpec(metric, task, metric, lower_is_better=lower_is_better),))


def _layout_of(run: StoredRun) -> Benchmark:
    """The run's benchmark layout as its manifest describes it; for a version-1 run, the layout its task had."""
    description = run.manifest.description
    if description is None:
        assert run.metrics is not None
        primary = run.metrics.metrics.get(run.metrics.primary_metric)
        lower = primary.lower_is_better if primary else False
        return _benchmark_for(run.manifest.task, run.metrics.primary_metric, lower)
    columns = []
    for column in description.benchmark.columns:
        if column.group_score:
            score = next(
                (g for g in description.group_scores if (g.group, g.name) == (column.task, column.metric)), None
            )
            lower = score.lower_is_better if score is not None else False
        else:
            metric = description.metric(column.metric)
            lower = metric.lower_is_better if metric is not None else False
        columns.append(
            ColumnSpec(column.label, column.task, column.metric, column.breakdown, lower, column.group_score)
        )
    layout = description.benchmark
    return Benchmark(layout.id, layout.title, tuple(columns), layout.protocol)


_LEGACY_VOICEBENCH_OVERALL = GroupScore(
    "voicebench",
    "overall",
    "VoiceBench leaderboard Overall (mean of 9, judge scores x20)",
    tuple(ScoreInput(c.task, c.metric, 20.0 if c.metric == "gpt_score" else 1.0) for c in _voicebench_columns()[:-1]),
)


def _group_scores_of(run: StoredRun) -> tuple[GroupScore, ...]:
    description = run.manifest.description
    if description is not None:
        return description.group_scores
    return (_LEGACY_VOICEBENCH_OVERALL,) if run.manifest.task.startswith("voicebench_") else ()


def _latest_runs(runs: Sequence[StoredRun]) -> dict[tuple[str, str, str], StoredRun]:
    """(model, task, split) -> the run that finished last; a warning names runs of other settings it hides."""
    latest: dict[tuple[str, str, str], StoredRun] = {}
    for run in sorted(runs, key=lambda r: (r.manifest.finished_at or "", str(r.directory))):
        if run.metrics is None:
            continue
        slot = (run.manifest.model, run.manifest.task, run.manifest.split)
        earlier = latest.get(slot)
        if earlier is not None and earlier.manifest.run_id != run.manifest.run_id:
            log.warning(
                "%s on %s (%s): showing %s (prompt %s), not %s (prompt %s), which has other settings",
                *slot, run.directory, run.manifest.prompt_variant, earlier.directory, earlier.manifest.prompt_variant,
            )  # fmt: skip
        latest[slot] = run
    return latest


def _measured_cell(run: StoredRun, spec: ColumnSpec) -> Cell | None:
    assert run.metrics is not None
    values = run.metrics.metrics
    if spec.breakdown is not None:
        values = run.metrics.breakdowns.get(spec.breakdown[0], {}).get(spec.breakdown[1], {})
    value = values.get(spec.metric)
    if value is None:
        return None
    return Cell(value.value, value.ci_low, value.ci_high, run.metrics.n_failed, str(run.directory))


def build_table(
    runs: Sequence[StoredRun],
    *,
    reported: Sequence[ReportedSource] = (),
    benchmarks: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    delta: bool = False,
) -> GroupedTable:
    """A grouped leaderboard of the latest completed run per (model, task, split).

    `benchmarks` chooses the column groups and their order (default: every benchmark with a value, in the
    default order); `models` chooses measured rows and their order (default: sorted). Reported rows follow
    the measured ones; with `delta`, a "measured - reported" row follows each measured model that a reported
    row names as its match. Columns without any value are left out.
    """
    latest = _latest_runs(runs)
    layouts: dict[str, Benchmark] = dict(BENCHMARKS)
    candidates: dict[str, Column] = {}
    measured: dict[str, dict[str, Cell]] = {}
    scores: dict[tuple[str, str], GroupScore] = {}
    for (model, task, split), run in latest.items():
        assert run.metrics is not None
        benchmark = _layout_of(run)
        if benchmark.name not in layouts or run.manifest.description is not None:
            layouts[benchmark.name] = benchmark
        for score in _group_scores_of(run):
            scores.setdefault((score.group, score.name), score)
        for spec in benchmark.columns:
            if spec.task != task:
                continue
            cell = _measured_cell(run, spec)
            if cell is not None:
                column = Column(benchmark.name, benchmark.title, split, spec)
                candidates.setdefault(column.key, column)
                measured.setdefault(model, {})[column.key] = cell
    for benchmark in layouts.values():
        for spec in benchmark.columns:
            group_score = scores.get((spec.task, spec.metric)) if spec.group_score else None
            if group_score is None:
                continue
            inputs = {item.task for item in group_score.inputs}
            for model, split in sorted({(m, s) for (m, t, s) in latest if t in inputs}):
                members = {t: r.metrics for (m, t, s), r in latest.items() if m == model and s == split and r.metrics}
                values = {(t, name): v.value for t, metrics in members.items() for name, v in metrics.metrics.items()}
                value = group_score.compute(values)
                if value is not None:
                    column = Column(benchmark.name, benchmark.title, split, spec)
                    candidates.setdefault(column.key, column)
                    failed = sum(members[t].n_failed for t in inputs if t in members)
                    measured.setdefault(model, {})[column.key] = Cell(value, n_failed=failed)
    reported_rows, notes = _reported_rows(reported, candidates)
    chosen = list(benchmarks) if benchmarks else list(layouts)
    unknown = [name for name in chosen if name not in layouts]
    if unknown:
        raise ConfigError(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(layouts)}")
    columns = [
        column
        for name in chosen
        for split in sorted({c.split for c in candidates.values() if c.benchmark == name}, key=_split_order)
        for spec in layouts[name].columns
        for column in [Column(name, layouts[name].title, split, spec)]
        if column.key in candidates
    ]
    if models is not None:
        missing = [m for m in models if m not in measured]
        if missing:
            raise ConfigError(f"no completed runs of {', '.join(missing)}")
    names = list(models) if models is not None else sorted(measured)
    rows: list[Row] = []
    for name in names:
        rows.append(Row(name, "measured", measured[name]))
        if delta:
            rows.extend(_delta_rows(name, measured[name], reported_rows))
    rows.extend(row for row, _ in reported_rows)
    keys = {c.key for c in columns}
    rows = [Row(r.name, r.kind, {k: v for k, v in r.cells.items() if k in keys}) for r in rows]
    shown = {(c.benchmark, c.spec.task) for c in columns}
    protocols = [
        _with_labels(layouts[name].protocol, [run for (_, task, _), run in latest.items() if (name, task) in shown])
        for name in dict.fromkeys(c.benchmark for c in columns)
        if layouts[name].protocol
    ]
    footnotes = list(protocols)
    if any(cell.n_failed for row in rows for cell in row.cells.values()):
        footnotes.append("* some samples failed and are not counted; see n_failed in the run's metrics.json")
    used = {cell.source for row in rows if row.kind == "reported" for cell in row.cells.values()}
    footnotes.extend(note for source_id, note in notes if source_id in used)
    if any(cell.self_reported for row in rows for cell in row.cells.values()):
        footnotes.append("§ self-reported by the model's authors")
    datasets = _dataset_note(latest.values(), columns)
    if datasets:
        footnotes.append(datasets)
    return GroupedTable(columns, rows, footnotes)


def _split_order(split: str) -> tuple[int, str]:
    return (0 if split == "test" else 1, split)


def _with_labels(protocol: str, runs: Sequence[StoredRun]) -> str:
    """The protocol note, naming the benchmark's label version only when every run shown records one."""
    versions = {run.manifest.dataset.label_version for run in runs}
    if not versions or None in versions:
        return protocol
    return f"{protocol}, labels {' / '.join(sorted(v for v in versions if v))}"


def _dataset_note(runs: Any, columns: Sequence[Column]) -> str:
    tasks = {c.spec.task for c in columns}
    versions = sorted({_dataset_version(run) for run in runs if run.manifest.task in tasks})
    return "Data: " + "; ".join(versions) if versions else ""


def _dataset_version(run: StoredRun) -> str:
    dataset = run.manifest.dataset
    text = dataset.id
    if dataset.revision:
        is_sha = len(dataset.revision) == 40 and all(c in "0123456789abcdef" for c in dataset.revision)
        prefix, colon, digest = dataset.revision.rpartition(":")
        text += "@" + (
            dataset.revision[:8] if is_sha else f"{prefix}{colon}{digest[:8]}" if colon else dataset.revision
        )
    return text + (f" ({dataset.label_version})" if dataset.label_version else "")


def _reported_rows(
    sources: Sequence[ReportedSource], candidates: dict[str, Column]
) -> tuple[list[tuple[Row, str | None]], list[tuple[str, str]]]:
    """Reported rows (one per model name, cells from every source) with the registry name they match."""
    cells: dict[str, dict[str, Cell]] = {}
    matches: dict[str, str | None] = {}
    notes: list[tuple[str, str]] = []
    for source in sources:
        notes.append((source.id, f"† {source.id}: {source.title} ({source.citation}); {source.protocol}"))
        for entry in source.entries:
            for key, value in entry.values.items():
                benchmark, _, label = key.partition(":")
                layout = BENCHMARKS.get(benchmark)
                spec = next((s for s in layout.columns if s.label == label), None) if layout else None
                if layout is None or spec is None:
                    raise ConfigError(f"reported source {source.id}: unknown column {key!r}")
                column = Column(benchmark, layout.title, source.split, spec)
                candidates.setdefault(column.key, column)
                row = cells.setdefault(entry.model, {})
                row.setdefault(column.key, Cell(value, source=source.id, self_reported=entry.self_reported))
            matches[entry.model] = matches.get(entry.model) or entry.matches
    return [(Row(name, "reported", row), matches[name]) for name, row in cells.items()], notes


def _delta_rows(model: str, cells: Mapping[str, Cell], reported: Sequence[tuple[Row, str | None]]) -> list[Row]:
    rows = []
    for row, match in reported:
        if match != model:
            continue
        shared = {key: Cell(cells[key].value - cell.value) for key, cell in row.cells.items() if key in cells}
        if shared:
            rows.append(Row(f"Δ {model} − {row.name}", "delta", shared))
    return rows


# ---------------------------------------------------------------------------------------------- rendering


def _number(cell: Cell, kind: str) -> str:
    if kind == "delta":
        return f"{cell.value:+.2f}"
    return f"{cell.value:.2f}"


def _half_width(cell: Cell) -> float | None:
    if cell.ci_low is None or cell.ci_high is None or math.isnan(cell.ci_low) or math.isnan(cell.ci_high):
        return None
    return (cell.ci_high - cell.ci_low) / 2


def _marks(cell: Cell, row: Row) -> str:
    return ("*" if cell.n_failed else "") + ("§" if cell.self_reported else "")


def _row_name(row: Row) -> str:
    return row.name + ("†" if row.kind == "reported" else "")


def _arrow(column: Column) -> str:
    return "↓" if column.spec.lower_is_better else "↑"


@dataclass(frozen=True)
class _CellFormat:
    """How one output format writes a cell: the number, then its rank's emphasis, the CI, the marks."""

    missing: str
    number: Callable[[str], str]
    best: Callable[[str], str]
    second: Callable[[str], str]
    ci: Callable[[float], str]
    marks: Callable[[str], str]


def _formatted_rows(table: GroupedTable, style: _CellFormat, with_ci: bool) -> list[tuple[Row, list[str]]]:
    """Each row with its cells written in one format, in column order."""
    ranks = table.ranks()
    formatted = []
    for i, row in enumerate(table.rows):
        texts = []
        for column in table.columns:
            cell = row.cells.get(column.key)
            if cell is None:
                texts.append(style.missing)
                continue
            text = style.number(_number(cell, row.kind))
            rank = ranks.get((i, column.key))
            text = style.best(text) if rank == 1 else style.second(text) if rank == 2 else text
            half = _half_width(cell)
            if with_ci and half is not None:
                text += style.ci(half)
            texts.append(text + style.marks(_marks(cell, row)))
        formatted.append((row, texts))
    return formatted


def _same(text: str) -> str:
    return text


_MARKDOWN = _CellFormat("–", _same, lambda t: f"**{t}**", lambda t: f"<ins>{t}</ins>", lambda h: f" ± {h:.2f}", _same)


def to_markdown(table: GroupedTable, with_ci: bool = False) -> str:
    """GitHub Markdown: one header row `benchmark · column`, best in bold, second underlined."""
    header = ["model", *(f"{c.group_title} · {c.spec.label} {_arrow(c)}" for c in table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---", *(["---:"] * len(table.columns))]) + "|"]
    for row, values in _formatted_rows(table, _MARKDOWN, with_ci):
        lines.append("| " + " | ".join([_row_name(row), *values]) + " |")
    notes = "".join(f"\n{note}  " for note in table.footnotes)
    return "\n".join(lines) + ("\n" + notes.rstrip() if notes else "") + "\n"


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
    "Δ": r"$\Delta$",
    "−": "--",
    "±": r"$\pm$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
    "·": r"$\cdot$",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """Text as LaTeX source: special characters escaped, the few symbols used in tables as commands."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _latex_number(text: str) -> str:
    """A signed number with a math minus or plus, so it does not print as a hyphen."""
    return f"${text[0]}${text[1:]}" if text and text[0] in "+-" else text


def to_latex(
    table: GroupedTable,
    with_ci: bool = False,
    caption: str = "Results.",
    label: str = "tab:results",
    standalone: bool = False,
) -> str:
    """A booktabs table with a two-level header; needs `\\usepackage{booktabs}` (a full document with `standalone`)."""
    groups = table.groups()
    spec = "l" + "".join("r" * len(columns) for _, columns in groups)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\caption{{{latex_escape(caption)}}}"]
    lines.append(rf"\label{{{label}}}")
    lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    heads, rules, position = [], [], 2
    for title, columns in groups:
        heads.append(rf"\multicolumn{{{len(columns)}}}{{c}}{{{latex_escape(title)}}}")
        rules.append(rf"\cmidrule(lr){{{position}-{position + len(columns) - 1}}}")
        position += len(columns)
    lines.append(" & ".join(["", *heads]) + r" \\")
    lines.append(" ".join(rules))
    labels = [latex_escape(f"{c.spec.label} {_arrow(c)}") for c in table.columns]
    lines.append(" & ".join(["Model", *labels]) + r" \\")
    lines.append(r"\midrule")
    previous_kind = None
    latex = _CellFormat(
        "--",
        _latex_number,
        lambda t: rf"\textbf{{{t}}}",
        lambda t: rf"\underline{{{t}}}",
        lambda h: rf"{{\scriptsize$\pm${h:.2f}}}",
        latex_escape,
    )
    for row, values in _formatted_rows(table, latex, with_ci):
        if previous_kind is not None and row.kind == "reported" and previous_kind != "reported":
            lines.append(r"\midrule")
        previous_kind = row.kind
        lines.append(" & ".join([latex_escape(_row_name(row)), *values]) + r" \\")
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


def to_csv(table: GroupedTable) -> str:
    """One line per cell (long format)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "model",
            "kind",
            "benchmark",
            "split",
            "column",
            "task",
            "metric",
            "value",
            "ci_low",
            "ci_high",
            "n_failed",
            "lower_is_better",
            "source",
        ]
    )
    for row in table.rows:
        for column in table.columns:
            cell = row.cells.get(column.key)
            if cell is None:
                continue
            writer.writerow(
                [
                    row.name,
                    row.kind,
                    column.benchmark,
                    column.split,
                    column.spec.label,
                    column.spec.task,
                    column.spec.metric,
                    f"{cell.value:.4f}",
                    "" if cell.ci_low is None else f"{cell.ci_low:.4f}",
                    "" if cell.ci_high is None else f"{cell.ci_high:.4f}",
                    cell.n_failed,
                    column.spec.lower_is_better,
                    cell.source,
                ]
            )
    return out.getvalue()


def to_json(table: GroupedTable) -> str:
    ranks = table.ranks()
    data = {
        "columns": [
            {
                "key": c.key,
                "benchmark": c.benchmark,
                "group": c.group_title,
                "label": c.spec.label,
                "split": c.split,
                "task": c.spec.task,
                "metric": c.spec.metric,
                "breakdown": list(c.spec.breakdown) if c.spec.breakdown else None,
                "lower_is_better": c.spec.lower_is_better,
            }
            for c in table.columns
        ],
        "rows": [
            {
                "model": row.name,
                "kind": row.kind,
                "cells": {
                    key: {
                        "value": cell.value,
                        "ci_low": cell.ci_low,
                        "ci_high": cell.ci_high,
                        "n_failed": cell.n_failed,
                        "source": cell.source,
                        "self_reported": cell.self_reported,
                        "rank": ranks.get((i, key)),
                    }
                    for key, cell in row.cells.items()
                },
            }
            for i, row in enumerate(table.rows)
        ],
        "footnotes": table.footnotes,
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def to_rich(table: GroupedTable, with_ci: bool = False) -> Any:
    """A rich Table for the terminal: best bold, second underlined."""
    from rich.markup import escape
    from rich.table import Table

    out = Table(title="diffa-eval leaderboard", caption="\n".join(map(escape, table.footnotes)) or None)
    out.add_column("model", style="bold")
    for column in table.columns:
        out.add_column(escape(f"{column.group_title}\n{column.spec.label} {_arrow(column)}"), justify="right")
    terminal = _CellFormat(
        "–",
        escape,
        lambda t: f"[bold]{t}[/bold]",
        lambda t: f"[underline]{t}[/underline]",
        lambda h: f" ±{h:.2f}",
        escape,
    )
    for row, values in _formatted_rows(table, terminal, with_ci):
        out.add_row(escape(_row_name(row)), *values)
    return out


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


def to_html(
    table: GroupedTable, with_ci: bool = False, title: str = "diffa-eval leaderboard", figures: Sequence[str] = ()
) -> str:
    """A self-contained HTML page (no external resources); `figures` are inline SVG or `<img>` markup."""
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
        + "".join(f'<th colspan="{len(cols)}">{html.escape(name)}</th>' for name, cols in table.groups())
        + "</tr>",
        "<tr>" + "".join(f"<th>{html.escape(f'{c.spec.label} {_arrow(c)}')}</th>" for c in table.columns) + "</tr>",
        "</thead>",
        "<tbody>",
    ]
    page = _CellFormat(
        "–",
        html.escape,
        lambda t: f"<strong>{t}</strong>",
        lambda t: f"<u>{t}</u>",
        lambda h: f' <span class="ci">±{h:.2f}</span>',
        html.escape,
    )
    for row, values in _formatted_rows(table, page, with_ci):
        cells = "".join(f"<td>{value}</td>" for value in values)
        parts.append(f'<tr class="{row.kind}"><td>{html.escape(_row_name(row))}</td>{cells}</tr>')
    parts += ["</tbody>", "</table>"]
    if table.footnotes:
        parts.append('<div class="notes">' + "".join(f"<p>{html.escape(n)}</p>" for n in table.footnotes) + "</div>")
    parts += [f"<figure>{figure}</figure>" for figure in figures]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
