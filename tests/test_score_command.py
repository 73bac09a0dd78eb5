"""`diffa-eval score`: re-score prediction files made elsewhere, with the official field names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app

runner = CliRunner()

ITEM = {
    "question": "Who speaks?",
    "choices": ["Man", "Woman", "Child", "Robot"],
    "answer": "Man",
    "task": "speech",
    "difficulty": "easy",
    "sub-category": "Counting",
    "audio_id": "./a.wav",
}


def _score(*args: str) -> str:
    result = runner.invoke(app, ["score", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_mmau_predictions_under_any_official_field_name(tmp_path: Path) -> None:
    records = [
        {**ITEM, "id": "1", "prediction": "Man"},
        {**ITEM, "id": "2", "model_output": "It is a woman."},
        {**ITEM, "id": "3", "model_prediction": "A. Man"},
        {**ITEM, "id": "4"},  # no prediction: the official scorer skips it
        {**ITEM, "id": "5", "model_output": "B"},
    ]
    source = tmp_path / "predictions.json"
    source.write_text(json.dumps(records))
    out = tmp_path / "scores.jsonl"
    metrics = json.loads(_score("mmau_test_mini", str(source), "--output", str(out), "--json"))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["id"], line["score"]) for line in lines] == [
        ("1", 1.0),
        ("2", 0.0),
        ("3", 1.0),
        ("4", None),
        ("5", 0.0),
    ]
    assert lines[1]["extracted"] == "It is a woman."
    assert metrics["metrics"]["accuracy"]["value"] == 50.0
    assert (metrics["n_samples"], metrics["n_scored"], metrics["n_excluded"]) == (5, 4, 1)
    assert metrics["breakdowns"]["task"]["speech"]["accuracy"]["n"] == 4


def test_jsonl_with_a_broken_line_scores_the_rest(tmp_path: Path) -> None:
    source = tmp_path / "predictions.jsonl"
    good = json.dumps({**ITEM, "id": "1", "prediction": "Man"})
    source.write_text(good + "\n{not json\n" + json.dumps({"id": "2", "prediction": "x"}) + "\n")
    result = runner.invoke(app, ["score", "mmau_test_mini", str(source), "--json"])
    assert result.exit_code == 0
    metrics = json.loads(result.stdout)
    assert (metrics["n_samples"], metrics["n_scored"], metrics["n_failed"]) == (3, 1, 2)
    assert "predictions.jsonl, line 2: invalid JSON" in result.stderr
    assert "record 2" in result.stderr and "lacks a field" in result.stderr


def test_librispeech_corpus_wer_from_predictions(tmp_path: Path) -> None:
    records = [
        {"id": "1-1-1", "text": "THE CLOCK STRUCK TWENTY THREE TIMES", "prediction": "The clock struck 23 times."},
        {"id": "1-1-2", "text": "HELLO THERE", "hypothesis": ""},
        {"id": "1-1-3", "text": "A B C D", "prediction": "a x c d e"},
    ]
    source = tmp_path / "asr.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    metrics = json.loads(_score("librispeech_test_clean", str(source), "--json"))
    wer = metrics["metrics"]["wer"]
    assert wer["value"] == 100 * (0 + 2 + 2) / (5 + 2 + 4)
    assert wer["details"] == {
        "substitutions": 1.0,
        "deletions": 2.0,
        "insertions": 1.0,
        "hits": 8.0,
        "reference_words": 11.0,
    }
    assert wer["lower_is_better"] is True


def test_terminal_summary_without_json(tmp_path: Path) -> None:
    source = tmp_path / "p.json"
    source.write_text(json.dumps([{**ITEM, "id": "1", "prediction": "Man"}]))
    output = _score("mmau_test_mini", str(source))
    assert "accuracy" in output and "100.00" in output


def _score_process(task: str, path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "diffa_eval", "score", task, str(path), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "500"})


def test_a_prediction_that_is_not_text_is_an_unreadable_record_not_its_printed_form(tmp_path: Path) -> None:
    records = [
        {**ITEM, "id": "1", "prediction": ["Man"]},
        {**ITEM, "id": "2", "prediction": {"text": "Man"}},
        {**ITEM, "id": "3", "prediction": 7},
        {**ITEM, "id": "4", "prediction": "Man"},
    ]
    source = tmp_path / "predictions.json"
    source.write_text(json.dumps(records))
    out = tmp_path / "scores.jsonl"
    done = _score_process("mmau_test_mini", source, "--json", "--output", str(out))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["score"] for line in lines] == [None, None, None, 1.0]
    assert lines[0]["error"] == "the prediction in field 'prediction' is a list, not text"
    assert lines[2]["error"] == "the prediction in field 'prediction' is a number, not text"
    metrics = json.loads(done.stdout)
    assert (metrics["n_samples"], metrics["n_scored"], metrics["n_failed"]) == (4, 1, 3)
    assert "record 0 (id 1): the prediction in field 'prediction' is a list, not text" in done.stderr


def test_duplicate_ids_are_an_error_naming_them(tmp_path: Path) -> None:
    records = [{**ITEM, "id": i, "prediction": "Man"} for i in ("a", "b", "a", "c", "b", "a")]
    source = tmp_path / "predictions.json"
    source.write_text(json.dumps(records))
    done = _score_process("mmau_test_mini", source)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert f"error: {source}: 2 ids occur more than once: a (3 times), b (2 times)" in done.stderr


@pytest.mark.parametrize(
    "content",
    ["", "[]", "{not json\nnot json either\n"],
    ids=["zero-bytes", "empty-list", "no-json"],
)
def test_a_file_with_nothing_scored_exits_non_zero(tmp_path: Path, content: str) -> None:
    source = tmp_path / "predictions.jsonl"
    source.write_text(content)
    done = _score_process("mmau_test_mini", source)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"error: nothing in {source} was scored" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("task", "record", "fields", "close"),
    [
        ("mmau_test_mini", {**ITEM, "id": "1"}, "prediction, model_output, model_prediction", None),
        (
            "librispeech_test_clean",
            {"id": "1272-128104-0000", "text": "HELLO THERE", "hypotesis": "hello there"},
            "prediction, hypothesis, response, pred_text",
            "'hypotesis' is close to 'hypothesis'",
        ),
        ("mmsu", {"id": "a", "answer_gt": "x", "output": "A"}, "prediction, response", None),
    ],
    ids=["mmau", "librispeech-misspelt", "mmsu"],
)
def test_a_file_without_any_prediction_names_the_fields_looked_for(
    tmp_path: Path, task: str, record: dict[str, str], fields: str, close: str | None
) -> None:
    source = tmp_path / "predictions.jsonl"
    source.write_text(json.dumps(record) + "\n")
    done = _score_process(task, source)
    assert done.returncode == 2, done.stdout + done.stderr  # never a silent 100% WER or 0% accuracy
    assert f"error: no record of {source} holds a prediction: {task} looks for the field(s) {fields}" in done.stderr
    assert f"the records have {', '.join(sorted(record))}" in done.stderr
    assert close is None or close in done.stderr


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"choices": "yes"}, "'choices' must be a list of strings, got \"yes\""),
        ({"choices": ["Man", 2]}, "'choices' must be a list of strings, got [\"Man\", 2]"),
        ({"answer": "Dog"}, "the answer 'Dog' is not one of its choices"),
    ],
    ids=["choices-a-string", "choices-not-strings", "answer-not-a-choice"],
)
def test_mmau_records_with_malformed_choices_fail_naming_their_id(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    records = [{**ITEM, "id": "good", "prediction": "Man"}, {**ITEM, "id": "bad7", "prediction": "yes", **change}]
    source = tmp_path / "predictions.json"
    source.write_text(json.dumps(records))
    out = tmp_path / "scores.jsonl"
    done = _score_process("mmau_test_mini", source, "--output", str(out))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["id"], line["score"]) for line in lines] == [("good", 1.0), ("bad7", None)]
    assert lines[1]["error"] == f"MMAU record bad7: {problem}"
    assert f"MMAU record bad7: {problem}" in done.stderr
