"""Grouped leaderboards from stored runs: benchmarks as column groups with sub-columns, rows per model variant.

`build_table` reads only the store. Each run's manifest says how its benchmark is laid out (column groups,
sub-columns, group scores such as VoiceBench's overall), its metrics' directions and its variant; version-1
runs are laid out as the built-in benchmarks were then (`legacy`). Rows and the run behind each cell come
from `select`; published numbers from `results/reported/` can be added as rows, and cost columns from
`cost`. What the table is made of (columns, cells, rows) is in `board`; the renderers are in `render`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..describe import BenchmarkLayout, ColumnSpec, GroupScore, TaskDescription, VariantInfo
from ..errors import ConfigError
from ..store import StoredRun
from .board import GAPS, NOT_RUN, Cell, Column, GroupedTable, Row
from .cost import COST_COLUMNS, COST_NOTE, RowCost
from .legacy import LAYOUTS, VOICEBENCH_OVERALL, describe_run, legacy_descriptions
from .notes import dataset_note, dataset_versions, with_labels
from .reported import ReportedSource
from .select import (
    Chosen,
    RowKey,
    choose_runs,
    coverage,
    is_complete,
    pick_rows,
    row_keys,
    row_labels,
    row_order,
    unmatched,
)


@dataclass
class _Catalog:
    """Layouts, metric directions and group scores, from the runs' descriptions over the version-1 defaults."""

    layouts: dict[str, BenchmarkLayout] = field(default_factory=dict)
    directions: dict[tuple[str, str], tuple[bool, str]] = field(default_factory=dict)
    """(task, metric) or (group, group score) -> (lower is better, unit)."""
    group_scores: dict[tuple[str, str], GroupScore] = field(default_factory=dict)

    def add(self, description: TaskDescription) -> None:
        layout = description.benchmark
        earlier = self.layouts.get(layout.id)
        if earlier is not None:  # a run of other task code may have columns this one lacks: keep them after
            labels = {column.label for column in layout.columns}
            extra = tuple(column for column in earlier.columns if column.label not in labels)
            layout = BenchmarkLayout(layout.id, layout.title, (*layout.columns, *extra), layout.protocol)
        self.layouts[layout.id] = layout
        for metric in description.metrics:
            self.directions[(description.task, metric.name)] = (metric.lower_is_better, metric.unit)
        for score in description.group_scores:
            self.group_scores[(score.group, score.name)] = score
            self.directions[(score.group, score.name)] = (score.lower_is_better, "")

    def column(self, layout: BenchmarkLayout, split: str, spec: ColumnSpec) -> Column:
        lower, unit = self.directions.get((spec.task, spec.metric), (False, ""))
        return Column(layout.id, layout.title, split, spec, lower, unit)


def _catalog(chosen: Sequence[Chosen]) -> tuple[_Catalog, dict[str, BenchmarkLayout]]:
    """The catalog, and each chosen run's own layout by run directory.

    Column groups come in the version-1 order of the built-in ones, then the others by id; a run's
    description overrides the version-1 data, a newer task version an older one.
    """
    catalog = _Catalog(layouts={layout.id: layout for layout in LAYOUTS})
    for description in legacy_descriptions():
        catalog.directions.update(
            ((description.task, m.name), (m.lower_is_better, m.unit)) for m in description.metrics
        )
    catalog.group_scores[("voicebench", "overall")] = VOICEBENCH_OVERALL
    own: dict[str, BenchmarkLayout] = {}
    for item in sorted(chosen, key=lambda c: (c.run.manifest.task_version, c.run.manifest.run_id, c.task)):
        run = item.run
        described = describe_run(run)
        if described is None:  # a version-1 run of a task not built in: its primary metric, in its own group
            assert run.metrics is not None
            task, primary = run.manifest.task, run.metrics.primary_metric
            value = run.metrics.metrics.get(primary)
            layout = BenchmarkLayout(task, task, (ColumnSpec(primary, task, primary),))
            catalog.layouts.setdefault(layout.id, layout)
            catalog.directions.setdefault((task, primary), (bool(value and value.lower_is_better), ""))
        else:
            catalog.add(described)
            layout = described.benchmark
        own[str(run.directory)] = layout
    builtin = [layout.id for layout in LAYOUTS]
    order = builtin + sorted(name for name in catalog.layouts if name not in builtin)
    catalog.layouts = {name: catalog.layouts[name] for name in order}
    return catalog, own


def _measured_cell(item: Chosen, spec: ColumnSpec) -> Cell | None:
    metrics = item.run.metrics
    assert metrics is not None
    values = metrics.metrics
    if spec.breakdown is not None:
        values = metrics.breakdowns.get(spec.breakdown[0], {}).get(spec.breakdown[1], {})
    value = values.get(spec.metric)
    if value is None:
        return None
    note = item.coverage.note if item.coverage.partial else ""
    return Cell(value.value, value.ci_low, value.ci_high, metrics.n_failed, str(item.run.directory), partial=note)


def build_table(
    runs: Sequence[StoredRun],
    *,
    reported: Sequence[ReportedSource] = (),
    benchmarks: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    delta: bool = False,
    partial: bool = False,
    cost: bool = False,
) -> GroupedTable:
    """A grouped leaderboard: a row per model and variant, a cell per column from the run `select` chooses.

    `benchmarks` chooses the column groups and their order (default: every group with a value, the
    built-in ones first); `models` chooses measured rows and their order (a model name gives all its
    rows, a row label one row; default: sorted). With `partial`, slots that only partial runs fill show
    them, marked ‡ and never ranked. Reported rows follow the measured ones; with `delta`, a "measured -
    reported" row follows a model's default row when a reported row names it as its match. With `cost`,
    each measured row gets the cost columns. Columns without any value are left out.
    """
    chosen = choose_runs(runs, partial=partial)
    catalog, own_layouts = _catalog(chosen)
    candidates: dict[str, Column] = {}
    cells: dict[RowKey, dict[str, Cell]] = {}
    behind: dict[tuple[RowKey, str], list[Chosen]] = {}
    variants: dict[RowKey, VariantInfo] = {}
    for item in chosen:
        variants.setdefault(item.row, item.variant)
        layout = catalog.layouts[own_layouts[str(item.run.directory)].id]
        for spec in own_layouts[str(item.run.directory)].columns:
            if spec.task != item.task or spec.group_score:
                continue
            cell = _measured_cell(item, spec)
            if cell is not None:
                column = catalog.column(layout, item.split, spec)
                candidates.setdefault(column.key, column)
                cells.setdefault(item.row, {})[column.key] = cell
                behind[(item.row, column.key)] = [item]
    _add_group_scores(catalog, chosen, candidates, cells, behind)
    reported_rows, notes = _reported_rows(reported, catalog, candidates)
    chosen_groups = list(benchmarks) if benchmarks else [name for name in catalog.layouts]
    unknown = [name for name in chosen_groups if name not in catalog.layouts]
    if unknown:
        raise ConfigError(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(catalog.layouts)}")
    columns = [
        column
        for name in chosen_groups
        for split in sorted({c.split for c in candidates.values() if c.benchmark == name}, key=_split_order)
        for spec in catalog.layouts[name].columns
        for column in [candidates.get(catalog.column(catalog.layouts[name], split, spec).key)]
        if column is not None
    ]
    keys = {c.key for c in columns}
    labels = row_labels(variants)
    available = row_order(variants, labels)
    if models is not None:
        missing = unmatched(available, labels, models)
        if missing:
            raise ConfigError(f"no completed runs of {', '.join(missing)}")
        available = pick_rows(available, labels, models)
        labels = row_labels({key: variants[key] for key in available})
    rows: list[Row] = []
    gaps = _gaps(runs, chosen, columns, partial)
    explained: set[str] = set()
    for key in available:
        shown = {k: v for k, v in cells.get(key, {}).items() if k in keys}
        row_cost = None
        if cost:
            runs_behind = {id(c.run): c.run for k in shown for c in behind[(key, k)]}
            row_cost = RowCost.of(list(runs_behind.values()))
        row_gaps = {c.key: gaps[(key, c.key)][0] for c in columns if c.key not in shown and (key, c.key) in gaps}
        explained.update(directory for c in columns if c.key in row_gaps for directory in gaps[(key, c.key)][1])
        rows.append(Row(labels[key], "measured", shown, key.model, variants[key], row_cost, row_gaps))
        if delta and key.default:
            rows.extend(_delta_rows(key.model, labels[key], shown, reported_rows))
    rows.extend(Row(r.name, r.kind, {k: v for k, v in r.cells.items() if k in keys}) for r, _ in reported_rows)
    shown_runs = [item for item in chosen if item.row in available and _shows(item, columns, own_layouts)]
    shown_models = {key.model for key in available}
    left_out = [
        str(run.directory)
        for run in runs
        if not partial
        and is_complete(run)
        and (models is None or run.manifest.model in shown_models)
        and coverage(run).partial
    ]
    # runs that a gap cell already accounts for need no footnote
    unexplained = sum(1 for directory in left_out if directory not in explained)
    footnotes = _footnotes(catalog, columns, rows, shown_runs, labels, notes, cost, unexplained)
    shown_benchmarks = set(chosen_groups)
    unshown = [
        item
        for item in chosen
        if item.row in available
        and own_layouts[str(item.run.directory)].id in shown_benchmarks
        and not _shows(item, columns, own_layouts)
        and _empty_run(item.run)
        and any(spec.task == item.task for spec in own_layouts[str(item.run.directory)].columns)
    ]
    footnotes.extend(_without_columns(unshown))
    datasets = dataset_versions([c.run for c in shown_runs], {c.spec.task for c in columns})
    if datasets:
        footnotes.append(dataset_note(datasets))
    return GroupedTable(columns, rows, footnotes, COST_COLUMNS if cost else (), len(left_out), tuple(datasets))


def _gaps(
    runs: Sequence[StoredRun], chosen: Sequence[Chosen], columns: Sequence[Column], partial: bool
) -> dict[tuple[RowKey, str], tuple[str, tuple[str, ...]]]:
    """(row, column key) -> why that row's runs show no value in the column (a key of `GAPS`), with the
    directories of the runs left out that the gap accounts for.

    "pending" when the chosen run's outputs still wait for scores; "failed" when every sample of the run
    failed (no value even with `partial`); "n/a" when the chosen run has values, but none for this column
    (e.g. every answer of one category left out by the protocol); "partial" when only partial runs exist
    and were not asked for. Only columns without a cell use them.
    """
    by_slot = {(c.row, c.task, c.split): c for c in chosen}
    complete: dict[tuple[RowKey, str, str], list[StoredRun]] = {}
    for run in runs:
        if is_complete(run):
            for row, _ in row_keys(run):
                complete.setdefault((row, run.manifest.task, run.manifest.split), []).append(run)
    gaps: dict[tuple[RowKey, str], tuple[str, tuple[str, ...]]] = {}
    for (row, task, split), candidates in complete.items():
        for column in columns:
            if column.spec.task != task or column.split != split or column.spec.group_score:
                continue
            shown = by_slot.get((row, task, split))
            if shown is not None:
                gap = _empty_run(shown.run) or "n/a"
            elif all(_empty_run(run) == "failed" for run in candidates):
                gap = "failed"
            else:
                gap = "" if partial else "partial"
            if gap:
                left_out = () if shown is not None else tuple(str(run.directory) for run in candidates)
                gaps[(row, column.key)] = (gap, left_out)
    return gaps


def _without_columns(unshown: Sequence[Chosen]) -> list[str]:
    """A note per task and split whose runs all hold no value (every output pending or every sample failed),
    so that a task that ran is never silently missing from the table."""
    states: dict[tuple[str, str], set[str]] = {}
    for item in unshown:
        states.setdefault((item.task, item.split), set()).add(_empty_run(item.run))
    notes = []
    for (task, split), found in sorted(states.items()):
        why = " or ".join(GAPS[state] for state in sorted(found))
        notes.append(f"{task} ({split}) has no column although it ran: {why}")
    return notes


def _empty_run(run: StoredRun) -> str:
    """ "pending" or "failed" for a run whose samples all wait for scores or all failed, else ""."""
    metrics = run.metrics
    assert metrics is not None
    if metrics.n_scored + metrics.n_excluded == 0 and metrics.n_pending:
        return "pending"
    if metrics.n_scored + metrics.n_excluded + metrics.n_pending == 0 and metrics.n_failed:
        return "failed"
    return ""


def _shows(item: Chosen, columns: Sequence[Column], own: Mapping[str, BenchmarkLayout]) -> bool:
    """Whether one of the shown columns holds a value of this run."""
    layout = own[str(item.run.directory)]
    return any(c.split == item.split and c.benchmark == layout.id and c.spec.task == item.task for c in columns)


def _add_group_scores(
    catalog: _Catalog,
    chosen: Sequence[Chosen],
    candidates: dict[str, Column],
    cells: dict[RowKey, dict[str, Cell]],
    behind: dict[tuple[RowKey, str], list[Chosen]],
) -> None:
    """Cells of group scores (e.g. VoiceBench's overall) for each row and split whose runs hold every input."""
    by_slot = {(c.row, c.task, c.split): c for c in chosen}
    for layout in catalog.layouts.values():
        for spec in layout.columns:
            score = catalog.group_scores.get((spec.task, spec.metric)) if spec.group_score else None
            if score is None:
                continue
            inputs = {item.task for item in score.inputs}
            for row, split in sorted({(c.row, c.split) for c in chosen if c.task in inputs}):
                members = [by_slot[(row, task, split)] for task in sorted(inputs) if (row, task, split) in by_slot]
                values = {
                    (m.task, name): v.value
                    for m in members
                    if m.run.metrics
                    for name, v in m.run.metrics.metrics.items()
                }
                value = score.compute(values)
                if value is None:
                    continue
                column = catalog.column(layout, split, spec)
                candidates.setdefault(column.key, column)
                failed = sum(m.run.metrics.n_failed for m in members if m.run.metrics)
                partial = "from partial runs" if any(m.coverage.partial for m in members) else ""
                cells.setdefault(row, {})[column.key] = Cell(value, n_failed=failed, partial=partial)
                behind[(row, column.key)] = members


def _footnotes(
    catalog: _Catalog,
    columns: Sequence[Column],
    rows: Sequence[Row],
    shown_runs: Sequence[Chosen],
    labels: Mapping[RowKey, str],
    reported_notes: Sequence[tuple[str, str]],
    cost: bool,
    left_out: int,
) -> list[str]:
    shown = {(c.benchmark, c.spec.task) for c in columns}
    footnotes = [
        with_labels(catalog.layouts[name].protocol, [c.run for c in shown_runs if (name, c.task) in shown])
        for name in dict.fromkeys(c.benchmark for c in columns)
        if catalog.layouts[name].protocol
    ]
    all_cells = [cell for row in rows for cell in row.cells.values()]
    if any(cell.n_failed for cell in all_cells):
        footnotes.append("* some samples failed and are not counted; see n_failed in the run's metrics.json")
    partial = [c for c in shown_runs if c.coverage.partial]
    if partial:
        listed = "; ".join(f"{labels[c.row]} on {c.task} ({c.split}): {c.coverage.note}" for c in partial)
        footnotes.append(f"‡ partial run, not ranked: {listed}")
    if left_out:
        footnotes.append(
            f"{left_out} partial run{'s' if left_out > 1 else ''} left out (fewer samples than the split, or more "
            "failed samples than the run allowed)"
        )
    used = {cell.source for row in rows if row.kind == "reported" for cell in row.cells.values()}
    footnotes.extend(note for source_id, note in reported_notes if source_id in used)
    if any(cell.self_reported for cell in all_cells):
        footnotes.append("§ self-reported by the model's authors")
    shown_gaps = {gap for row in rows for gap in row.gaps.values()}
    if shown_gaps:
        meanings = [f"{gap}: {meaning}" for gap, meaning in GAPS.items() if gap in shown_gaps]
        footnotes.append("; ".join([*meanings, f"{NOT_RUN}: not run"]))
    if cost:
        footnotes.append(COST_NOTE)
    return footnotes


def _split_order(split: str) -> tuple[int, str]:
    return (0 if split == "test" else 1, split)


def _reported_rows(
    sources: Sequence[ReportedSource], catalog: _Catalog, candidates: dict[str, Column]
) -> tuple[list[tuple[Row, str | None]], list[tuple[str, str]]]:
    """Reported rows (one per model name, cells from every source) with the model name they match."""
    cells: dict[str, dict[str, Cell]] = {}
    matches: dict[str, str | None] = {}
    notes: list[tuple[str, str]] = []
    for source in sources:
        notes.append((source.id, f"† {source.id}: {source.title} ({source.citation}); {source.protocol}"))
        for entry in source.entries:
            for key, value in entry.values.items():
                benchmark, _, label = key.partition(":")
                layout = catalog.layouts.get(benchmark)
                spec = next((s for s in layout.columns if s.label == label), None) if layout else None
                if layout is None or spec is None:
                    raise ConfigError(f"reported source {source.id}: unknown column {key!r}")
                column = catalog.column(layout, source.split, spec)
                candidates.setdefault(column.key, column)
                row = cells.setdefault(entry.model, {})
                row.setdefault(column.key, Cell(value, source=source.id, self_reported=entry.self_reported))
            matches[entry.model] = matches.get(entry.model) or entry.matches
    return [(Row(name, "reported", row), matches[name]) for name, row in cells.items()], notes


def _delta_rows(
    model: str, label: str, cells: Mapping[str, Cell], reported: Sequence[tuple[Row, str | None]]
) -> list[Row]:
    rows = []
    for row, match in reported:
        if match != model:
            continue
        shared = {key: Cell(cells[key].value - cell.value) for key, cell in row.cells.items() if key in cells}
        if shared:
            rows.append(Row(f"Δ {label} − {row.name}", "delta", shared))
    return rows
