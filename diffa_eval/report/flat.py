"""A stored run as flat rows, for tools outside diffa-eval (Weights & Biases, Hugging Face datasets).

`sample_rows` gives one row per planned sample with fixed columns (`SAMPLE_COLUMNS`); nested values (breakdown
labels, model details) are JSON text, so every run gives the same columns whatever its benchmark. `run_row`
gives one row per run: its identity, settings and headline numbers; `run_metrics` its metrics as flat
`task/metric` names. Read from the store alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..store import StoredRun

SAMPLE_COLUMNS: dict[str, str] = {
    "model": "string",
    "variant": "string",
    "task": "string",
    "split": "string",
    "run_id": "string",
    "sample_id": "string",
    "prompt": "string",
    "output": "string",
    "extracted": "string",
    "reference": "string",
    "score": "float64",
    "error": "string",
    "error_stage": "string",
    "pending": "string",
    "groups": "string",
    "generated_tokens": "int64",
    "forward_passes": "int64",
    "seconds": "float64",
    "audio_seconds": "float64",
    "audio_sha256": "string",
    "model_details": "string",
}
"""Column -> Arrow type name of `sample_rows`."""

RUN_COLUMNS: dict[str, str] = {
    "model": "string",
    "variant": "string",
    "task": "string",
    "split": "string",
    "run_id": "string",
    "task_version": "int64",
    "prompt_variant": "string",
    "status": "string",
    "primary_metric": "string",
    "primary_value": "float64",
    "n_samples": "int64",
    "n_scored": "int64",
    "n_failed": "int64",
    "metrics": "string",
    "settings": "string",
    "generation": "string",
    "model_info": "string",
    "dataset": "string",
    "started_at": "string",
    "finished_at": "string",
    "git_sha": "string",
}
"""Column -> Arrow type name of `run_row`; metrics, settings and the rest are JSON text."""


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _identity(run: StoredRun) -> dict[str, Any]:
    manifest = run.manifest
    return {
        "model": manifest.model,
        "variant": manifest.variant.label if manifest.variant else "",
        "task": manifest.task,
        "split": manifest.split,
        "run_id": manifest.run_id,
    }


def sample_rows(run: StoredRun) -> list[dict[str, Any]]:
    """One row per planned sample (columns `SAMPLE_COLUMNS`), in the run's record order."""
    identity = _identity(run)
    return [
        {
            **identity,
            "sample_id": record.sample_id,
            "prompt": record.prompt,
            "output": record.output,
            "extracted": record.extracted,
            "reference": record.reference,
            "score": record.score,
            "error": record.error,
            "error_stage": record.error_stage,
            "pending": record.pending,
            "groups": _json(dict(record.groups)),
            "generated_tokens": record.generated_tokens,
            "forward_passes": record.forward_passes,
            "seconds": record.seconds,
            "audio_seconds": record.audio_seconds,
            "audio_sha256": record.audio_sha256,
            "model_details": _json(dict(record.model_details)),
        }
        for record in run.records()
    ]


def run_metrics(run: StoredRun) -> dict[str, float]:
    """The run's numbers as flat names: `TASK/METRIC` (with `_ci_low`, `_ci_high`), `TASK/METRIC/FIELD=LABEL`
    per breakdown, `TASK/n_scored`, `TASK/n_failed` and the cost totals; empty until the run completes."""
    metrics = run.metrics
    if metrics is None:
        return {}
    task = run.manifest.task
    flat: dict[str, float] = {}
    for name, value in metrics.metrics.items():
        flat[f"{task}/{name}"] = value.value
        if value.ci_low is not None and value.ci_high is not None:
            flat[f"{task}/{name}_ci_low"] = value.ci_low
            flat[f"{task}/{name}_ci_high"] = value.ci_high
    for field, labels in metrics.breakdowns.items():
        for label, values in labels.items():
            for name, value in values.items():
                flat[f"{task}/{name}/{field}={label}"] = value.value
    for count in ("n_samples", "n_scored", "n_excluded", "n_failed", "n_pending"):
        flat[f"{task}/{count}"] = float(getattr(metrics, count))
    if metrics.cost is not None:
        for key, total in metrics.cost.to_dict().items():
            if total is not None:
                flat[f"{task}/cost/{key}"] = float(total)
    return flat


def run_settings(run: StoredRun) -> dict[str, Any]:
    """What a run was asked to do and on what, from its manifest: the settings an experiment tracker records."""
    manifest = run.manifest
    settings: Mapping[str, Any] = manifest.variant.settings if manifest.variant else {}
    return {
        **_identity(run),
        "task_version": manifest.task_version,
        "prompt_variant": manifest.prompt_variant,
        "settings": dict(settings),
        "generation": manifest.generation.to_dict(),
        "model_info": dict(manifest.model_info),
        "dataset": manifest.dataset.to_dict(),
        "seed": manifest.seed,
        "device": manifest.device,
        "scope": None if manifest.scope is None else manifest.scope.to_dict(),
        "batching": None if manifest.batching is None else dict(manifest.batching),
        "judge": None if manifest.judge is None else dict(manifest.judge),
        "git_sha": manifest.git_sha,
        "command": list(manifest.command),
        "packages": dict(manifest.packages),
    }


def run_row(run: StoredRun) -> dict[str, Any]:
    """One row per run (columns `RUN_COLUMNS`)."""
    manifest, metrics = run.manifest, run.metrics
    primary = None if metrics is None else metrics.metrics.get(metrics.primary_metric)
    return {
        **_identity(run),
        "task_version": manifest.task_version,
        "prompt_variant": manifest.prompt_variant,
        "status": manifest.status,
        "primary_metric": None if metrics is None else metrics.primary_metric,
        "primary_value": None if primary is None else primary.value,
        "n_samples": None if metrics is None else metrics.n_samples,
        "n_scored": None if metrics is None else metrics.n_scored,
        "n_failed": None if metrics is None else metrics.n_failed,
        "metrics": _json(run_metrics(run)),
        "settings": _json(dict(manifest.variant.settings) if manifest.variant else {}),
        "generation": _json(manifest.generation.to_dict()),
        "model_info": _json(dict(manifest.model_info)),
        "dataset": _json(manifest.dataset.to_dict()),
        "started_at": manifest.started_at,
        "finished_at": manifest.finished_at,
        "git_sha": manifest.git_sha,
    }
