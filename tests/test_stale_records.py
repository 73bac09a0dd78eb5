"""A dataset that changes under a run directory: what the model is given decides regeneration, what the
score depends on decides re-scoring, and the manifest always describes the records.

The datasets are local folders in the official layouts, built in each test; the runs are real
`diffa-eval` processes (and, for shards, several of them), resumed in the same output folder.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.datasources import git_blob_sha
from diffa_eval.store import read_run

from .conftest import write_audio

MMAU = "mmau_test_mini"
N_ITEMS = 40
CHOICES = ("dog", "cat", "bird", "car")


def _mmau_items(answer_index: int, question: str) -> list[dict[str, Any]]:
    return [
        {"id": f"item{n:02d}", "audio_id": f"./test-mini-audios/item{n:02d}.wav", "question": f"{question} ({n})",
         "choices": list(CHOICES), "answer": CHOICES[(answer_index + n) % 4], "task": "sound", "difficulty": "easy"}
        for n in range(N_ITEMS)
    ]  # fmt: skip


def _write_mmau(root: Path, items: list[dict[str, Any]]) -> Path:
    """An MMAU test-mini folder (metadata + one short clip per item); the audio is kept when it exists."""
    folder = root / "MMAU"
    for item in items:
        clip = folder / item["audio_id"]
        if not clip.exists():
            write_audio(clip, seconds=0.1)
    (folder / "mmau-test-mini.json").write_text(json.dumps(items))
    return folder / "mmau-test-mini.json"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "diffa_eval", *args, "-q"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _run(data: Path, output: Path, model: str = "chance", *extra: str) -> str:
    args = ["run", "-m", model, "-t", MMAU, "--data-dir", str(data), "--output-dir", str(output), *extra]
    return " ".join(_cli(*args).stdout.split())  # rich wraps long lines


def _counts(summary: str) -> tuple[int, int]:
    match = re.search(r"(\d+) generated, (\d+) reused", summary)
    assert match, summary
    return int(match.group(1)), int(match.group(2))


def _run_dir(output: Path, model: str = "chance") -> Path:
    (directory,) = (output / model).iterdir()
    return directory


def _records(directory: Path) -> dict[str, dict[str, Any]]:
    return {r["sample_id"]: r for r in map(json.loads, (directory / "samples.jsonl").read_text().splitlines())}


def _accuracy(directory: Path) -> float:
    return float(json.loads((directory / "metrics.json").read_text())["metrics"]["accuracy"]["value"])


def _comparable(directory: Path) -> dict[str, tuple[Any, ...]]:
    fields = ("key", "prompt", "output", "extracted", "score", "reference", "groups", "error")
    return {sample_id: tuple(r[f] for f in fields) for sample_id, r in _records(directory).items()}


def test_new_questions_and_answers_regenerate_and_the_run_equals_a_fresh_one(tmp_path: Path) -> None:
    data, output = tmp_path / "data", tmp_path / "runs"
    _write_mmau(data, _mmau_items(0, "What makes the sound?"))
    assert _counts(_run(data, output)) == (N_ITEMS, 0)
    metadata = _write_mmau(data, _mmau_items(1, "Which source is heard?"))

    summary = _run(data, output)

    assert _counts(summary) == (N_ITEMS, 0), "every prompt changed: every sample is produced again"
    directory = _run_dir(output)
    fresh = _run(data, tmp_path / "fresh")
    assert _counts(fresh) == (N_ITEMS, 0)
    assert _comparable(directory) == _comparable(_run_dir(tmp_path / "fresh"))
    assert _accuracy(directory) == _accuracy(_run_dir(tmp_path / "fresh"))
    records = _records(directory)
    assert len(records) == N_ITEMS, "the records of the old prompts are gone"
    assert all("Which source is heard?" in r["prompt"] for r in records.values())
    assert all(r["reference"] == CHOICES[(1 + int(i[4:])) % 4] for i, r in records.items())
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["dataset"]["revision"] == git_blob_sha(metadata.read_bytes())


def test_new_answers_for_the_same_questions_rescore_the_stored_outputs_without_the_model(tmp_path: Path) -> None:
    data, output = tmp_path / "data", tmp_path / "runs"
    _write_mmau(data, _mmau_items(0, "What makes the sound?"))
    _run(data, output)
    directory = _run_dir(output)
    before = _records(directory)
    old_accuracy = _accuracy(directory)
    metadata = _write_mmau(data, _mmau_items(2, "What makes the sound?"))

    summary = _run(data, output)

    assert _counts(summary) == (0, N_ITEMS), summary
    assert f"{N_ITEMS} scored again" in summary
    after = _records(directory)
    produced = {i: (r["key"], r["output"]) for i, r in after.items()}
    assert produced == {i: (r["key"], r["output"]) for i, r in before.items()}
    assert all(r["reference"] == CHOICES[(2 + int(i[4:])) % 4] for i, r in after.items())
    assert all(r["score"] == float(r["output"] == r["reference"]) for r in after.values())
    fresh = tmp_path / "fresh"
    _run(data, fresh)
    assert _comparable(directory) == _comparable(_run_dir(fresh))
    assert _accuracy(directory) == _accuracy(_run_dir(fresh)) != old_accuracy
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["dataset"]["revision"] == git_blob_sha(metadata.read_bytes())
    assert _counts(_run(data, output)) == (0, N_ITEMS), "a third run has nothing left to do"
    assert "scored again" not in _run(data, output)


def test_the_oracle_reads_the_reference_so_a_new_answer_makes_it_answer_again(tmp_path: Path) -> None:
    data, output = tmp_path / "data", tmp_path / "runs"
    _write_mmau(data, _mmau_items(0, "What makes the sound?"))
    _run(data, output, "oracle")
    _write_mmau(data, _mmau_items(3, "What makes the sound?"))
    assert _counts(_run(data, output, "oracle")) == (N_ITEMS, 0)
    assert _accuracy(_run_dir(output, "oracle")) == 100.0


def test_new_choices_change_the_prompt_and_regenerate(tmp_path: Path) -> None:
    data, output = tmp_path / "data", tmp_path / "runs"
    items = _mmau_items(0, "What makes the sound?")
    _write_mmau(data, items)
    _run(data, output)
    for item in items[:5]:
        item["choices"] = [*item["choices"], "none of these"]
    _write_mmau(data, items)
    assert _counts(_run(data, output)) == (5, N_ITEMS - 5)


def test_shards_rescore_a_changed_reference_and_resume_under_another_shard_count(tmp_path: Path) -> None:
    data, output = tmp_path / "data", tmp_path / "runs"
    _write_mmau(data, _mmau_items(0, "What makes the sound?"))
    for shard in ("0/2", "1/2"):
        _run(data, output, "chance", "--shard", shard)
    _write_mmau(data, _mmau_items(1, "What makes the sound?"))
    generated = 0
    for shard in ("0/3", "1/3", "2/3"):
        generated += _counts(_run(data, output, "chance", "--shard", shard))[0]
    assert generated == 0
    fresh = tmp_path / "fresh"
    _run(data, fresh)
    assert _comparable(_run_dir(output)) == _comparable(_run_dir(fresh))
    assert _accuracy(_run_dir(output)) == _accuracy(_run_dir(fresh))


def _mmar_items(fixed: bool) -> list[dict[str, Any]]:
    """Ten MMAR items; in the original release six answers are not among their choices (fixed in Feb 2026)."""
    items = []
    for n in range(10):
        choices = [f"option {letter}" for letter in "abc"]
        answer = choices[n % 3] if fixed or n >= 6 else f"option {'abc'[n % 3]}."  # a stray period
        items.append({"id": f"mmar{n}", "audio_path": f"./audio/mmar{n}.wav", "question": f"Question {n}?",
                      "choices": choices, "answer": answer, "modality": "sound", "category": "Perception"})  # fmt: skip
    return items


def test_switching_mmar_to_the_fixed_labels_rescores_and_the_manifest_names_them(tmp_path: Path) -> None:
    data, output = tmp_path / "data", tmp_path / "runs"
    folder = data / "MMAR"
    for n in range(10):
        write_audio(folder / "audio" / f"mmar{n}.wav", seconds=0.1)
    (folder / "MMAR-meta.json").write_text(json.dumps(_mmar_items(fixed=False)))
    args = ["run", "-m", "oracle", "-t", "mmar", "--data-dir", str(data), "--output-dir"]
    _cli(*args, str(output))
    directory = _run_dir(output, "oracle")
    # the oracle answers the reference text, and the official matcher does not count "option a." against "option a"
    assert _accuracy(directory) == 100.0
    fixed = folder / "MMAR-meta.jsonl"  # the Feb-2026 file is read in preference to the original
    fixed.write_text("".join(json.dumps(item) + "\n" for item in _mmar_items(fixed=True)))

    summary = " ".join(_cli(*args, str(output)).stdout.split())

    assert _counts(summary) == (6, 4), "the oracle reads the answer, so only the six fixed items are produced again"
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["dataset"]["revision"] == git_blob_sha(fixed.read_bytes())
    assert manifest["dataset"]["id"] == str(fixed)
    records = _records(directory)
    assert [records[f"mmar{n}"]["reference"] for n in range(6)] == [f"option {'abc'[n % 3]}" for n in range(6)]
    _cli(*args, str(tmp_path / "fresh"))
    assert _comparable(directory) == _comparable(_run_dir(tmp_path / "fresh", "oracle"))


def test_switching_mmar_labels_under_chance_rescores_without_generating(tmp_path: Path) -> None:
    data, output = tmp_path / "data", tmp_path / "runs"
    folder = data / "MMAR"
    for n in range(10):
        write_audio(folder / "audio" / f"mmar{n}.wav", seconds=0.1)
    (folder / "MMAR-meta.json").write_text(json.dumps(_mmar_items(fixed=False)))
    args = ["run", "-m", "chance", "-t", "mmar", "--data-dir", str(data), "--output-dir"]
    _cli(*args, str(output))
    (folder / "MMAR-meta.jsonl").write_text("".join(json.dumps(item) + "\n" for item in _mmar_items(fixed=True)))
    summary = " ".join(_cli(*args, str(output)).stdout.split())
    assert _counts(summary) == (0, 10) and "6 scored again" in summary
    _cli(*args, str(tmp_path / "fresh"))
    assert _comparable(_run_dir(output)) == _comparable(_run_dir(tmp_path / "fresh"))


@pytest.mark.parametrize("change", ["instruction", "nothing"])
def test_a_task_whose_instruction_text_changes_without_a_version_bump_regenerates(tmp_path: Path, change: str) -> None:
    folder = tmp_path / "tasks"
    folder.mkdir()
    task_file = folder / "spoken_yes_no.py"
    source = """
from pathlib import Path
from diffa_eval.datasources import read_json_records
from diffa_eval.scoring.metrics import Accuracy
from diffa_eval.scoring.scorers import SCORERS
from diffa_eval.task import LoadedData, Task, register_task
from diffa_eval.types import AudioRef, DatasetInfo, Sample

HERE = Path(__file__).parent


class SpokenYesNo(Task):
    name = "spoken_yes_no"
    version = 1
    description = "yes/no"
    splits = ("test",)
    scorer = SCORERS.get("choice_text_match")
    metrics = (Accuracy(),)

    def load(self, split, data_dir=None):
        records, blob = read_json_records(HERE / "questions.jsonl")
        return LoadedData([self.sample_from_record(r, HERE) for r in records], DatasetInfo("local", "q", blob))

    def sample_from_record(self, record, base_dir=None):
        return Sample(record["id"], AudioRef(path=str(HERE / record["audio"])), record["answer"], ("yes", "no"), record)

    def prompt(self, sample):
        return "INSTRUCTION"


register_task(SpokenYesNo())
"""
    task_file.write_text(source.replace("INSTRUCTION", "Is it loud? Answer yes or no."))
    write_audio(folder / "q.wav", seconds=0.1)
    (folder / "questions.jsonl").write_text(
        "".join(json.dumps({"id": f"q{n}", "audio": "q.wav", "answer": "yes"}) + "\n" for n in range(3))
    )
    args = ["run", "-m", "chance", "-t", "spoken_yes_no", "--tasks-dir", str(folder), "--output-dir", str(tmp_path)]
    _cli(*args)
    if change == "instruction":
        task_file.write_text(source.replace("INSTRUCTION", "Is it loud? Reply with one word."))
    assert _counts(" ".join(_cli(*args).stdout.split())) == ((3, 0) if change == "instruction" else (0, 3))


def test_a_limited_run_reuses_the_full_runs_outputs_scored_on_the_current_data_and_leaves_that_run_alone(
    tmp_path: Path,
) -> None:
    data, output = tmp_path / "data", tmp_path / "runs"
    _write_mmau(data, _mmau_items(0, "What makes the sound?"))
    _run(data, output)
    full = _run_dir(output)
    _write_mmau(data, _mmau_items(1, "What makes the sound?"))
    summary = _run(data, output, "chance", "--limit", "10")
    assert _counts(summary) == (0, 10) and "10 scored again" in summary
    (limited,) = (directory for directory in (output / "chance").iterdir() if directory != full)
    run = read_run(limited)
    assert len(run.records()) == len(_records(limited)) == 10, "the run is its ten planned samples"
    assert all(r.reference == CHOICES[(1 + int(r.sample_id[4:])) % 4] for r in run.records())
    assert len(_records(full)) == N_ITEMS, "the full run keeps its records"
    summary = _run(data, output)
    assert _counts(summary) == (0, N_ITEMS) and f"{N_ITEMS} scored again" in summary
    fresh = tmp_path / "fresh"
    _run(data, fresh)
    assert _comparable(full) == _comparable(_run_dir(fresh))
