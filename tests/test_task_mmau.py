"""MMAU test-mini: the bundled sample, the real metadata, the hub layout, prompt and scoring."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.task import TASKS, builtin_module
from diffa_eval.types import Sample

from .conftest import REPO

DIFFA = os.environ.get("DIFFA_EVAL_DIFFA_CHECKOUT")

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
    module = builtin_module("mmau")
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


def test_the_question_is_kept_verbatim_in_every_prompt(task: Any) -> None:
    sample = Sample("x", None, "Man", ("Man", "Woman"), {"question": "Who speaks? "})  # as 23 test-mini items
    assert task.prompt(sample).startswith("Who speaks? \nSelect one option")
    for name in ("diffa", "diffa-2"):
        assert "\n\nQuestion: Who speaks? \n\nChoices:\nA. Man\nB. Woman\nAnswer:" in task.variants()[name].build(
            sample
        )


def test_test_mini_questions_that_end_in_a_space_keep_it(task: Any, shared_data: Path) -> None:
    samples = task.load("test", data_dir=shared_data).samples
    spaced = [s for s in samples if s.fields["question"].endswith(" ")]
    assert len(spaced) == 23
    for sample in spaced:
        assert task.prompt(sample).startswith(sample.fields["question"] + "\n")
        assert f"Question: {sample.fields['question']}\n" in task.variants()["diffa"].build(sample)


@pytest.mark.skipif(not DIFFA, reason="set DIFFA_EVAL_DIFFA_CHECKOUT to a checkout of NKU-HLT/DIFFA")
def test_the_diffa_prompt_is_the_one_diffas_mmau_script_builds(task: Any) -> None:
    parity = _parity_script()
    with parity.stand_ins(parity.DIFFA_MODEL_CODE):
        script = parity.load_module(Path(DIFFA or "") / "inference_stage2_mmau.py", "diffa_inference_stage2_mmau")
    samples = task.load("sample").samples
    samples.append(Sample("y", None, "Up", ("Up", "Down", "Sideways"), {"question": " Which way? "}))
    for sample in samples:
        expected = script.build_prompt(sample.fields["question"], list(sample.choices))
        assert task.variants()["diffa"].build(sample) == task.variants()["diffa-2"].build(sample) == expected


def _parity_script() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("parity_mmsu", REPO / "scripts" / "parity_mmsu.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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
