"""MMAU test-mini: the bundled sample, the real metadata, the hub layout, prompt and scoring."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.task import TASKS
from diffa_eval.types import Sample

OFFICIAL_FIELDS = {
    "id",
    "audio_id",
    "question",
    "choices",
    "answer",
    "dataset",
    "task",
    "split",
    "category",
    "sub-category",
    "difficulty",
}


@pytest.fixture
def task() -> Any:
    return TASKS.get("mmau_test_mini")


def test_the_sample_split_has_the_official_schema_and_real_audio(task: Any) -> None:
    loaded = task.load("sample")
    assert 5 <= len(loaded.samples) <= 10
    for sample in loaded.samples:
        assert set(sample.fields) == OFFICIAL_FIELDS
        assert sample.reference in sample.choices
        assert Path(sample.audio.path).is_file()
    assert {s.fields["task"] for s in loaded.samples} == {"sound", "music", "speech"}
    assert loaded.info.source == "bundled"


def test_the_real_metadata_loads_with_its_label_version(task: Any, shared_data: Path) -> None:
    loaded = task.load("test", data_dir=shared_data)
    assert len(loaded.samples) == 1000
    assert loaded.info.revision == "a2f7539b406a7a466d554e15a22342dbfe53c461"
    assert loaded.info.label_version == "MMAU-v05.15.25"
    assert all(s.reference in s.choices for s in loaded.samples)
    assert set(json.loads((shared_data / "mmau-test-mini.json").read_text())[0]) == OFFICIAL_FIELDS
    first = loaded.samples[0]
    assert first.audio.path.endswith(f"test-mini-audios/{first.id}.wav")


def test_hub_rows_are_mapped_to_the_official_schema(task: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    module = sys.modules[type(task).__module__]
    row = {
        "context": {"bytes": b"RIFF", "path": None},
        "instruction": "Identify the source of the speaking voice.",
        "choices": ["(A) Man", "(B) Woman", "(C) Child", "(D) Robot"],
        "answer": "(A) Man",
        "other_attributes": json.dumps(
            {
                "id": "3fe64f3d",
                "dataset": "AudioSet",
                "task": "sound",
                "split": "test-mini",
                "category": "Reasoning",
                "sub-category": "Acoustic Source Inference",
                "difficulty": "medium",
            }
        ),
    }
    monkeypatch.setattr(module, "load_hub_split", lambda *args, **kwargs: ([row], "ccd9696" + "0" * 33))
    loaded = task.load("test")
    sample = loaded.samples[0]
    assert (sample.id, sample.reference, sample.choices) == ("3fe64f3d", "Man", ("Man", "Woman", "Child", "Robot"))
    assert sample.fields["question"] == "Identify the source of the speaking voice."
    assert sample.audio.data == b"RIFF"
    assert (loaded.info.source, loaded.info.label_version) == ("hub", "MMAU-v05.15.25")
    assert task.breakdown_labels(sample) == {
        "task": "sound",
        "difficulty": "medium",
        "sub-category": "Acoustic Source Inference",
    }


def test_the_prompt_lists_the_options_as_text(task: Any) -> None:
    sample = Sample("x", None, "Man", ("Man", "Woman"), {"question": "Who speaks?"})
    assert task.prompt(sample) == "Who speaks?\nSelect one option from the provided choices:\nMan\nWoman"


def test_scoring_follows_the_official_rules(task: Any) -> None:
    sample = Sample("x", None, "Man", ("Man", "Woman", "Child", "Robot"), {})
    assert task.score(sample, "It is a man.").value == 1.0
    assert task.score(sample, "B").value == 0.0
    assert task.score(sample, "").value == 0.0
    missing = task.score(sample, None)
    assert missing.value is None and "skips" in (missing.explanation or "")


def test_a_metadata_file_with_a_bad_record_names_it(task: Any, tmp_path: Path) -> None:
    from diffa_eval.errors import DataError

    (tmp_path / "mmau-test-mini.json").write_text('[{"id": "1", "choices": ["a"], "answer": "a"}, 7]')
    with pytest.raises(DataError, match=r"mmau-test-mini.json, item 1: not a JSON object"):
        task.load("test", data_dir=tmp_path)
