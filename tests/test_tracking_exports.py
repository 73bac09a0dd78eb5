"""Optional hand-offs of stored runs: Weights & Biases (tested in its offline mode, nothing sent) and a Hugging Face
dataset folder (written locally; pushed only when asked and online)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.errors import ConfigError, MissingDependencyError
from diffa_eval.report.flat import SAMPLE_COLUMNS
from diffa_eval.report.tables import build_table, to_csv
from diffa_eval.report.wandb_log import WandbTarget, wandb_module
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import StoredRun, find_runs
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()
TASK_NAMES = ("mmau_test_mini", "librispeech_test_clean")


@pytest.fixture(scope="module")
def stored_runs(tmp_path_factory: pytest.TempPathFactory) -> list[StoredRun]:
    """chance and oracle on two tasks' sample splits: four complete runs."""
    output = tmp_path_factory.mktemp("runs")
    tasks = [TASKS.get(name) for name in TASK_NAMES]
    evaluate([ModelSpec("chance"), ModelSpec("oracle")], tasks, RunOptions(split="sample", output_dir=output))
    return find_runs([output])


# --- Weights & Biases ---------------------------------------------------------------------------------------


def _wandb_records(path: Path) -> Iterator[bytes]:
    """The records of a W&B offline run file: a 7-byte header, then LevelDB-log blocks of 32 KiB whose records
    (4-byte checksum, 2-byte length, 1-byte type: full, first, middle, last) hold one protobuf Record each."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    position, block, pending = 7, 32768, b""
    while position + 7 <= len(data):
        left = block - position % block
        if left < 7:  # a block's tail too short for a record header is padding
            position += left
            continue
        length = int.from_bytes(data[position + 4 : position + 6], "little")
        kind = data[position + 6]
        payload = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 1:
            yield payload
        elif kind == 2:
            pending = payload
        elif kind == 3:
            pending += payload
        elif kind == 4:
            yield pending + payload


def _offline_run(folder: Path) -> dict[str, Any]:
    """What an offline W&B run holds: its run record (id, project, name, group, tags), config, summary, and the
    `samples` table."""
    from wandb.proto import wandb_internal_pb2

    (path,) = folder.glob("run-*.wandb")
    run: Any = None
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for payload in _wandb_records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
            config.update({item.key: json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "summary":
            summary.update({item.key: json.loads(item.value_json) for item in record.summary.update if item.key})
    (table,) = folder.glob("files/media/table/samples_*.table.json")
    return {"run": run, "config": config, "summary": summary, "table": json.loads(table.read_text())}


def test_run_with_wandb_logs_settings_metrics_and_samples_offline(tmp_path: Path) -> None:
    pytest.importorskip("wandb")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true"}
    env.pop("WANDB_API_KEY", None)
    output = tmp_path / "runs"
    wandb = "project=diffa-tests,name=smoke,tags=a,tags=b"
    command = [sys.executable, "-m", "diffa_eval", "run", "-m", "chance", "-t", ",".join(TASK_NAMES), "--split",
               "sample", "--output-dir", str(output), "-q", "--wandb", wandb]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "logged 2 runs to W&B (project diffa-tests)" in done.stdout
    logged = {}
    for folder in (tmp_path / "wandb").glob("offline-run-*"):
        offline = _offline_run(folder)
        logged[offline["config"]["task"]] = offline
    runs = {run.manifest.task: run for run in find_runs([output])}
    assert set(logged) == set(runs) == set(TASK_NAMES)
    for task, run in runs.items():
        offline, manifest, metrics = logged[task], run.manifest, run.metrics
        assert metrics is not None
        assert offline["run"].project == "diffa-tests" and offline["run"].run_group == "smoke"
        assert offline["run"].display_name == f"smoke · {task} (sample)" and list(offline["run"].tags) == ["a", "b"]
        assert offline["run"].run_id == manifest.run_id[:32]
        config = offline["config"]
        assert (config["model"], config["split"]) == ("chance", "sample")
        assert config["generation"] == manifest.generation.to_dict() and config["batching"] == {"batch_size": 8}
        primary = metrics.primary_metric
        assert offline["summary"][f"{task}/{primary}"] == pytest.approx(metrics.metrics[primary].value)
        assert offline["summary"][f"{task}/n_scored"] == metrics.n_scored
        table = offline["table"]
        assert table["columns"] == list(SAMPLE_COLUMNS)
        sample_ids = [row[table["columns"].index("sample_id")] for row in table["data"]]
        assert sample_ids == [record.sample_id for record in run.records()]


def test_wandb_settings_are_checked() -> None:
    target = WandbTarget.parse("project=p,entity=team,tags=a,tags=b")
    assert (target.project, target.entity, target.tags, target.job_type) == ("p", "team", ("a", "b"), "eval")
    with pytest.raises(ConfigError, match="KEY one of project"):
        WandbTarget.parse("projcet=p")


def test_without_wandb_the_run_stops_before_any_work_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed: importing it fails
    with pytest.raises(MissingDependencyError, match=r"diffa-eval\[wandb\]"):
        wandb_module()
    args = ["run", "-m", "chance", "-t", "mmau_test_mini", "--split", "sample", "--output-dir", str(tmp_path / "runs")]
    result = runner.invoke(app, [*args, "--wandb", "project=p"])
    assert isinstance(result.exception, MissingDependencyError)
    assert not (tmp_path / "runs").exists()


# --- Hugging Face dataset folder ----------------------------------------------------------------------------


def test_export_dataset_writes_a_folder_that_load_dataset_reads(stored_runs: list[StoredRun], tmp_path: Path) -> None:
    from datasets import load_dataset

    folder = tmp_path / "export"
    result = runner.invoke(app, ["export-dataset", *[str(run.directory) for run in stored_runs], "-o", str(folder)])
    assert result.exit_code == 0, result.output
    samples = load_dataset(str(folder), "samples", split="train")
    assert list(samples.features) == list(SAMPLE_COLUMNS)
    expected = [(r.manifest.model, r.manifest.task, record.sample_id, record.output, record.score)
                for r in stored_runs for record in r.records()]  # fmt: skip
    assert [(row["model"], row["task"], row["sample_id"], row["output"], row["score"]) for row in samples] == expected
    runs = load_dataset(str(folder), "runs", split="train")
    for row, run in zip(runs, stored_runs, strict=True):
        assert run.metrics is not None
        manifest = run.manifest
        assert (row["model"], row["task"], row["run_id"]) == (manifest.model, manifest.task, manifest.run_id)
        assert row["primary_value"] == pytest.approx(run.metrics.metrics[run.metrics.primary_metric].value)
    board = load_dataset(str(folder), "leaderboard", split="train")
    assert board.num_rows == len(to_csv(build_table(stored_runs)).splitlines()) - 1  # one row per table cell
    assert "configs:" in (folder / "README.md").read_text()


def test_export_dataset_refuses_a_folder_of_other_files(stored_runs: list[StoredRun], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = runner.invoke(app, ["export-dataset", str(stored_runs[0].directory), "-o", str(tmp_path)])
    assert result.exit_code != 0 and "not empty" in str(result.exception)


class _RecordingHub:
    """Stands in for huggingface_hub.HfApi: records the calls an upload makes."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"hub/datasets/{repo_id}"

    def upload_folder(self, **kwargs: Any) -> None:
        self.calls.append(("upload_folder", kwargs))


def test_export_dataset_pushes_only_when_asked_and_online(
    stored_runs: list[StoredRun], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(huggingface_hub, "HfApi", _RecordingHub)
    monkeypatch.setattr(_RecordingHub, "calls", [])
    run_dir = str(stored_runs[0].directory)
    assert runner.invoke(app, ["export-dataset", run_dir, "-o", str(tmp_path / "local")]).exit_code == 0
    assert _RecordingHub.calls == []  # not asked: nothing leaves the machine

    offline = runner.invoke(app, ["export-dataset", run_dir, "-o", str(tmp_path / "a"), "--push-to-hub", "me/evals"])
    assert offline.exit_code != 0 and "HF_HUB_OFFLINE" in str(offline.exception)  # the tests run offline
    assert not (tmp_path / "a").exists() and _RecordingHub.calls == []

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    folder = tmp_path / "b"
    asked = ["export-dataset", run_dir, "-o", str(folder), "--push-to-hub", "me/evals", "--private"]
    pushed = runner.invoke(app, asked)
    assert pushed.exit_code == 0, pushed.output
    assert _RecordingHub.calls == [
        ("create_repo", {"repo_id": "me/evals", "repo_type": "dataset", "private": True, "exist_ok": True}),
        ("upload_folder", {"folder_path": str(folder), "repo_id": "me/evals", "repo_type": "dataset"}),
    ]
