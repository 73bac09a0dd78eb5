"""MMSU and MMAR tasks: loading their official layouts, prompts, protocols and breakdowns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffa_eval.errors import DataError
from diffa_eval.runner import RunOptions, evaluate
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

from .conftest import write_audio


def test_mmsu_prompts_are_the_official_wordings() -> None:
    task = TASKS.get("mmsu")
    sample = task.load("sample").samples[0]
    official = task.variants()["official"].build(sample)
    assert official.startswith(
        "Choose the most suitable answer from options A, B, C, and D. You must respond with only A, B, C, or D."
        "\n\nQuestion: What does the speaker ask for?\n\nA. Coffee\nB. Tea\nC. Water\nD. Juice"
    )
    earlier = task.variants()["official-2025"].build(sample)
    assert "**you should only choose A or B or C or D.** Do not provide any additional" in earlier
    assert task.variants()["diffa"].build(sample) == earlier
    assert task.variants()["diffa"].generation == {"max_new_tokens": 4}


def test_mmsu_reports_both_protocols_and_the_leaderboard_cells(tmp_path: Path) -> None:
    outcome = evaluate([ModelSpec("chance")], [TASKS.get("mmsu")], RunOptions(split="sample", output_dir=tmp_path))[0]
    assert outcome.metrics is not None
    assert set(outcome.metrics.metrics) == {"accuracy", "accuracy_strict", "parse_failure_rate"}
    assert outcome.metrics.metrics["parse_failure_rate"].value == 0.0  # chance answers with a letter
    cells = outcome.metrics.breakdowns["category/sub-category"]
    assert "perception/semantics" in cells and "reasoning/paralinguistics" in cells


def test_mmsu_reads_a_local_metadata_folder(tmp_path: Path) -> None:
    folder = tmp_path / "MMSU"
    write_audio(folder / "audio" / "x1.wav")
    record = {"id": "x1", "audio_path": "audio/x1.wav", "question": "Q?", "answer_gt": "No"}
    record |= {"choice_a": "Yes", "choice_b": "No", "choice_c": "Maybe", "choice_d": "Never", "category": "reasoning"}
    (folder / "mmsu.jsonl").write_text(json.dumps(record) + "\n")
    loaded = TASKS.get("mmsu").load("test", tmp_path)
    assert loaded.info.source == "local" and loaded.samples[0].audio is not None
    assert Path(loaded.samples[0].audio.path or "").is_file()


def test_mmsu_rejects_an_answer_that_is_not_one_choice(tmp_path: Path) -> None:
    record = {"id": "x", "question": "Q?", "answer_gt": "Blue", "choice_a": "Red", "choice_b": "Green"}
    with pytest.raises(DataError, match="answer_gt 'Blue' is not exactly one of the four choices"):
        TASKS.get("mmsu").sample_from_record(record)


def test_mmar_reads_the_official_metadata_and_names_its_label_version(shared_data: Path) -> None:
    folder = shared_data
    loaded = TASKS.get("mmar")._load_folder(folder, "local")  # type: ignore[attr-defined]
    assert len(loaded.samples) == 1000
    assert loaded.info.label_version == "MMAR-2026-02 (answers fixed)"
    assert all(sample.reference in sample.choices for sample in loaded.samples)
    first = loaded.samples[0]
    assert first.audio is not None and first.audio.path and first.audio.path.endswith(f"audio/{first.id}.wav")
    assert "rubric" not in first.fields  # the long judge material stays out of every record


def test_mmar_scores_answer_prediction_files_like_the_official_script(tmp_path: Path) -> None:
    from diffa_eval.scoring.offline import score_file

    rows = [
        {"id": "a", "question": "Q", "choices": ["Dense Forest", "Open Grassland"], "answer": "Open Grassland",
         "modality": "music", "category": "Cultural Layer", "answer_prediction": "Open Grassland"},
        {"id": "b", "question": "Q", "choices": ["Up", "Down"], "answer": "Up", "modality": "sound",
         "category": "Signal Layer", "answer_prediction": "A. Up"},
        {"id": "c", "question": "Q", "choices": ["Up", "Down"], "answer": "Up", "modality": "sound",
         "category": "Signal Layer"},
    ]  # fmt: skip
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    scored = score_file(TASKS.get("mmar"), path)
    assert [line["score"] for line in scored.lines] == [1.0, 1.0, None]  # no prediction: skipped
    assert scored.metrics.breakdowns["modality"]["music"]["accuracy"].value == 100.0


def test_mmau_test_writes_the_official_submission_and_no_accuracy(tmp_path: Path) -> None:
    outcome = evaluate(
        [ModelSpec("chance")], [TASKS.get("mmau_test")], RunOptions(split="sample", output_dir=tmp_path)
    )[0]
    assert outcome.metrics is not None and outcome.metrics.metrics == {}
    assert outcome.run_dir is not None
    submission = json.loads((outcome.run_dir / "submission.json").read_text())
    stored = {r.sample_id: r.output for r in read_run(outcome.run_dir).records()}
    assert [row["id"] for row in submission] == [s.id for s in TASKS.get("mmau_test").load("sample").samples]
    assert all(row["model_output"] == row["model_prediction"] == stored[row["id"]] for row in submission)
    assert all("answer" not in row for row in submission)


def test_the_mmar_audio_archive_is_unpacked_once_and_safely_again(tmp_path: Path) -> None:
    import sys
    import tarfile

    unpack = sys.modules[type(TASKS.get("mmar")).__module__]._unpack
    write_audio(tmp_path / "src" / "audio" / "clip.wav")
    archive = tmp_path / "mmar-audio.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.add(tmp_path / "src" / "audio", arcname="audio")
    cache = tmp_path / "cache"
    cache.mkdir()
    for _ in range(2):  # a second process finding the audio in place changes nothing
        unpack(archive, cache)
    assert sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) == [".unpacked", "audio", "audio/clip.wav"]
