"""MMSU and MMAR tasks: loading their official layouts, prompts, protocols and breakdowns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffa_eval.run import RunOptions, evaluate
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
    assert set(outcome.metrics.metrics) == {
        "accuracy",
        "accuracy_strict",
        "parse_failure_rate",
        "answer_outside_choices_rate",
    }
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


TWO_OPTIONS = {"id": "t", "question": "Rising?", "choice_a": "Yes", "choice_b": "No", "answer_gt": "No"}


def test_mmsu_two_option_items_are_prompted_as_each_reference_script_does() -> None:
    task = TASKS.get("mmsu")
    hub_row = task.sample_from_record({**TWO_OPTIONS, "choice_c": None, "choice_d": None})
    local_record = task.sample_from_record(TWO_OPTIONS)  # a file that leaves the keys out
    variants = task.variants()
    # the official scripts list A-D whatever the item holds; a null option reads "None"
    assert variants["official"].build(hub_row).endswith("Question: Rising?\n\nA. Yes\nB. No\nC. None\nD. None")
    assert variants["official"].build(local_record).endswith("\n\nA. Yes\nB. No\nC. \nD. ")
    assert variants["official-2025"].build(local_record).endswith("\n\nA. Yes\nB. No\nC. None\nD. None")
    # DIFFA's and DIFFA-2's scripts list only the options the item holds
    for name in ("diffa", "diffa-2"):
        assert variants[name].build(hub_row).endswith("Question: Rising?\n\nA. Yes\nB. No")
        assert variants[name].build(local_record) == variants[name].build(hub_row)


def test_mmsu_two_option_items_offer_two_letters_and_score_a_third_wrong() -> None:
    task = TASKS.get("mmsu")
    sample = task.sample_from_record({**TWO_OPTIONS, "choice_c": None, "choice_d": None})
    assert sample.choices == ("Yes", "No")
    assert task.answer_options(sample) == ("A", "B")
    assert task.ideal_answer(sample) == "B"
    assert [task.score(sample, letter).value for letter in "ABCD"] == [0.0, 1.0, 0.0, 0.0]


def test_mmsu_an_answer_outside_the_options_is_loaded_scored_wrong_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "MMSU"
    base = {"question": "Q?", "choice_a": "Red", "choice_b": "Green", "choice_c": "Blue", "choice_d": "Gray"}
    base["audio_path"] = write_audio(folder / "clip.wav").name
    records = [
        {**base, "id": "fine", "answer_gt": "Blue"},
        {**base, "id": "outside", "answer_gt": "Purple"},
        {**base, "id": "twice", "choice_d": "Red", "answer_gt": "Red"},
    ]
    (folder / "mmsu.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    task = TASKS.get("mmsu")
    with caplog.at_level("WARNING"):
        samples = task.load("test", tmp_path).samples
    assert [s.id for s in samples] == ["fine", "outside", "twice"]
    assert "1 of 3 items have an answer_gt that is none of their options (outside)" in caplog.text
    assert "1 of 3 items have an answer_gt that is the text of two or more options (twice)" in caplog.text
    fine, outside, twice = samples
    assert [task.score(outside, letter).value for letter in "ABCD"] == [0.0] * 4
    assert [task.score(twice, letter).value for letter in "ABCD"] == [1.0, 0.0, 0.0, 1.0]  # either "Red"
    assert (task.ideal_answer(fine), task.ideal_answer(outside), task.ideal_answer(twice)) == ("C", None, "A")
    outcome = evaluate([ModelSpec("chance")], [task], RunOptions(output_dir=tmp_path / "runs", data_dir=tmp_path))[0]
    assert outcome.metrics is not None and outcome.metrics.n_samples == 3
    rate = outcome.metrics.metrics["answer_outside_choices_rate"]
    assert rate.n == 3 and rate.value * rate.n / 100 == pytest.approx(1)  # one item of three


def test_mmsu_score_leaves_out_responses_that_are_not_text_as_the_official_scorer_does(tmp_path: Path) -> None:
    from diffa_eval.predictions import score_file

    base = {"question": "Q?", "choice_a": "Red", "choice_b": "Green", "choice_c": "Blue", "choice_d": "Gray"}
    base |= {"answer_gt": "Green", "category": "perception", "sub-category": "semantics"}
    responses = {"right": "B", "wrong": "A", "null": None, "number": 2, "list": ["B"], "empty": "", "none": "None"}
    records = [{**base, "id": key, "response": value} for key, value in responses.items()]
    records.append({**base, "id": "absent"})
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    scored = score_file(TASKS.get("mmsu"), path)
    assert {line["id"]: line["score"] for line in scored.lines} == {
        "right": 1.0, "wrong": 0.0, "null": None, "number": None, "list": None, "empty": 0.0, "none": 0.0,
        "absent": 0.0,  # an absent response is read as empty, counted and wrong
    }  # fmt: skip
    official, strict = scored.metrics.metrics["accuracy"], scored.metrics.metrics["accuracy_strict"]
    assert (official.value, official.n) == (20.0, 5)
    assert (strict.value, strict.n) == (12.5, 8)  # DIFFA's scorer reads what is not text as empty


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
    from diffa_eval.predictions import score_file

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
    import tarfile

    from diffa_eval.datasources import unpack_once as unpack

    write_audio(tmp_path / "src" / "audio" / "clip.wav")
    archive = tmp_path / "mmar-audio.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.add(tmp_path / "src" / "audio", arcname="audio")
    cache = tmp_path / "cache"
    cache.mkdir()
    for _ in range(2):  # a second process finding the audio in place changes nothing
        unpack(archive, cache)
    assert sorted(str(p.relative_to(cache)) for p in cache.rglob("*")) == [".unpacked", "audio", "audio/clip.wav"]
