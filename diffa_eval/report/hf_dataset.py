"""Stored runs exported as a Hugging Face dataset folder, written with `datasets`; pushed to the hub only when asked.

The folder has the layout of a dataset repository on the hub: a README.md whose YAML header declares three
configurations, and one Parquet file each:

    samples/     one row per sample of every run (`flat.SAMPLE_COLUMNS`)
    runs/        one row per run: identity, settings, headline numbers, every metric as JSON (`flat.RUN_COLUMNS`)
    leaderboard/ the leaderboard of the complete runs, one row per cell (the columns of `table --format csv`)

`datasets.load_dataset(FOLDER, "samples")` reads it back; `push` uploads the folder as a dataset repository.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError, StoreError
from ..store import StoredRun
from .flat import RUN_COLUMNS, SAMPLE_COLUMNS, run_row, sample_rows

SPLIT = "train"
"""The split name of every configuration: the one `load_dataset` gives data files by default."""


def _features(columns: Mapping[str, str]) -> Any:
    from datasets import Features, Value

    return Features({name: Value(kind) for name, kind in columns.items()})


def _write_parquet(rows: list[dict[str, Any]], columns: Mapping[str, str], path: Path) -> None:
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()  # a bar per small file says nothing
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows, features=_features(columns)).to_parquet(str(path))


def _leaderboard_rows(runs: Sequence[StoredRun], partial: bool) -> list[dict[str, Any]]:
    """The leaderboard of `runs` as rows of the long-format CSV (`table --format csv`), typed."""
    import pandas as pd

    from .tables import build_table, to_csv

    complete = [run for run in runs if run.metrics is not None and run.manifest.status == "complete"]
    if not complete:
        return []
    board = build_table(complete, partial=partial)
    frame = pd.read_csv(io.StringIO(to_csv(board)), dtype=str, keep_default_na=False)
    rows: list[dict[str, Any]] = frame.to_dict(orient="records")
    for row in rows:
        for name in ("value", "ci_low", "ci_high"):
            row[name] = _number(row[name])
        row["n_failed"] = int(row["n_failed"]) if row["n_failed"] else None
        row["lower_is_better"] = {"True": True, "False": False}.get(row["lower_is_better"])
    return rows


def _number(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:  # a text figure of the cost columns (the device)
        return None


LEADERBOARD_COLUMNS: dict[str, str] = {
    "model": "string",
    "kind": "string",
    "benchmark": "string",
    "split": "string",
    "column": "string",
    "task": "string",
    "metric": "string",
    "value": "float64",
    "ci_low": "float64",
    "ci_high": "float64",
    "n_failed": "int64",
    "lower_is_better": "bool",
    "source": "string",
    "spec": "string",
    "variant": "string",
    "settings": "string",
    "partial": "string",
}


def _card(runs: Sequence[StoredRun], counts: Mapping[str, int]) -> str:
    configs = "\n".join(
        f"- config_name: {name}\n  data_files:\n  - split: {SPLIT}\n    path: {name}/*.parquet" for name in counts
    )
    listed = "\n".join(
        f"| {run.manifest.model} | {run.manifest.task} | {run.manifest.split} | {run.manifest.status} | "
        f"{run.manifest.run_id[:8]} |"
        for run in runs
    )
    sizes = ", ".join(f"`{name}` ({n} rows)" for name, n in counts.items())
    return (
        f"---\nconfigs:\n{configs}\ntags:\n- diffa-eval\n- evaluation\n---\n\n"
        "# diffa-eval results\n\n"
        f"Evaluation runs exported by diffa-eval. Configurations: {sizes}.\n\n"
        '```python\nfrom datasets import load_dataset\n\nsamples = load_dataset("PATH_OR_REPO", "samples", '
        f'split="{SPLIT}")\n```\n\n'
        "| model | task | split | status | run |\n|---|---|---|---|---|\n"
        f"{listed}\n"
    )


def export_dataset(runs: Sequence[StoredRun], folder: Path, partial: bool = False) -> dict[str, int]:
    """Write `runs` as a dataset folder (see the module docstring); returns the rows of each configuration.
    `partial`: partial runs (--limit, too many failures) enter the leaderboard where no full run is."""
    if not runs:
        raise StoreError("no runs to export")
    if folder.exists() and any(folder.iterdir()) and not (folder / "README.md").is_file():
        raise ConfigError(f"{folder} is not empty and holds no exported dataset; choose an empty or new folder")
    tables = {
        "samples": ([row for run in runs for row in sample_rows(run)], SAMPLE_COLUMNS),
        "runs": ([run_row(run) for run in runs], RUN_COLUMNS),
        "leaderboard": (_leaderboard_rows(runs, partial), LEADERBOARD_COLUMNS),
    }
    counts = {}
    for name, (rows, columns) in tables.items():
        for stale in (folder / name).glob("*.parquet"):  # a new export replaces an earlier one
            stale.unlink()
        _write_parquet(rows, columns, folder / name / f"{SPLIT}-00000-of-00001.parquet")
        counts[name] = len(rows)
    (folder / "README.md").write_text(_card(runs, counts), encoding="utf-8")
    return counts


def hub_offline() -> bool:
    """True when the hub must not be reached (HF_HUB_OFFLINE, as huggingface_hub reads it)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def check_push(repo_id: str) -> None:
    """Fail before any work when the folder could not be pushed: a malformed repository id, or the hub offline."""
    owner, sep, name = repo_id.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ConfigError(f"--push-to-hub {repo_id!r}: expected OWNER/NAME")
    if hub_offline():
        raise ConfigError(f"--push-to-hub {repo_id}: HF_HUB_OFFLINE is set; unset it to push")


def push(folder: Path, repo_id: str, private: bool) -> str:
    """Upload the exported `folder` as the dataset repository `repo_id` (created if missing); returns its URL.
    Call `check_push` first, before exporting."""
    from huggingface_hub import HfApi

    api = HfApi()
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset")
    return str(url)
