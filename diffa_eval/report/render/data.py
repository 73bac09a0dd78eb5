"""CSV (one line per cell) and JSON (columns, rows with cells, cost and variant settings, footnotes)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..board import GroupedTable, Row
from . import cost_values

_CSV_HEADER = (
    "model", "kind", "benchmark", "split", "column", "task", "metric", "value", "ci_low", "ci_high", "n_failed",
    "lower_is_better", "source", "spec", "variant", "settings", "partial",
)  # fmt: skip


def _row_data(row: Row) -> list[str]:
    """The row's model spec, variant label and settings (compact JSON), for the trailing CSV fields."""
    if row.kind != "measured":
        return ["", "", ""]
    settings = json.dumps(dict(row.variant.settings), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return [row.model, row.variant.label, settings]


def to_csv(table: GroupedTable) -> str:
    """One line per cell (long format); with cost columns, one more line per row and cost figure
    (benchmark `cost`, the figure's key as metric, the device as text)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
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
                    column.lower_is_better,
                    cell.source,
                    *_row_data(row),
                    cell.partial,
                ]
            )
        for cost, value in zip(table.cost_columns, cost_values(table, row), strict=True):
            if value is None:
                continue
            text = value if isinstance(value, str) else f"{value:.6g}"
            writer.writerow(
                [
                    row.name,
                    row.kind,
                    "cost",
                    "",
                    cost.label,
                    "",
                    cost.key,
                    text,
                    "",
                    "",
                    "",
                    "",
                    "",
                    *_row_data(row),
                    "",
                ]
            )
    return out.getvalue()


def _cost_data(table: GroupedTable, row: Row) -> dict[str, Any] | None:
    if row.cost is None:
        return None
    data: dict[str, Any] = {c.key: value for c, value in zip(table.cost_columns, cost_values(table, row), strict=True)}
    data.update(samples=row.cost.samples, seconds=row.cost.seconds, devices=list(row.cost.devices))
    return data


def to_json(table: GroupedTable) -> str:
    """Columns, rows (cells with their rank; measured rows with spec, variant and cost) and footnotes."""
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
                "lower_is_better": c.lower_is_better,
                "unit": c.unit,
            }
            for c in table.columns
        ],
        "cost_columns": [{"key": c.key, "label": c.label} for c in table.cost_columns],
        "rows": [
            {
                "model": row.name,
                "kind": row.kind,
                **(
                    {"spec": row.model, "variant": row.variant.to_dict(), "cost": _cost_data(table, row)}
                    if row.kind == "measured"
                    else {}
                ),
                "cells": {
                    key: {
                        "value": cell.value,
                        "ci_low": cell.ci_low,
                        "ci_high": cell.ci_high,
                        "n_failed": cell.n_failed,
                        "source": cell.source,
                        "self_reported": cell.self_reported,
                        "partial": cell.partial or None,
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
