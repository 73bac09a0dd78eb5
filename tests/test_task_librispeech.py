"""LibriSpeech: the bundled sample, the openslr folder layout and hub records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from diffa_eval.task import TASKS, resolve_tasks

from .conftest import write_audio


@pytest.mark.parametrize("name", ["librispeech_test_clean", "librispeech_test_other"])
def test_the_sample_split_is_real_speech_in_the_openslr_layout(name: str) -> None:
    loaded = TASKS.get(name).load("sample")
    assert 5 <= len(loaded.samples) <= 10
    for sample in loaded.samples:
        speaker, chapter, _ = sample.id.split("-")
        assert sample.fields["speaker_id"] == int(speaker) and sample.fields["chapter_id"] == int(chapter)
        assert sample.audio.path.endswith(f"{sample.id}.flac") and Path(sample.audio.path).is_file()
        assert sample.reference == sample.reference.upper()
    assert loaded.info.revision.startswith("transcripts-sha256:")


def test_a_local_copy_is_found_under_the_data_dir(tmp_path: Path) -> None:
    chapter = tmp_path / "LibriSpeech" / "test-other" / "7" / "42"
    write_audio(chapter / "7-42-0000.flac")
    (chapter / "7-42.trans.txt").write_text("7-42-0000 HELLO THERE\n7-42-0001 MISSING AUDIO HERE\n")
    loaded = TASKS.get("librispeech_test_other").load("test", data_dir=tmp_path)
    assert [s.id for s in loaded.samples] == ["7-42-0000", "7-42-0001"]
    assert loaded.samples[1].reference == "MISSING AUDIO HERE"
    assert loaded.info.source == "local"


def test_a_copy_in_another_folder_gives_the_same_samples_apart_from_where_the_audio_lies(tmp_path: Path) -> None:
    loaded = []
    for copy in ("one", "two"):
        chapter = tmp_path / copy / "LibriSpeech" / "test-other" / "7" / "42"
        write_audio(chapter / "7-42-0000.flac")
        (chapter / "7-42.trans.txt").write_text("7-42-0000 HELLO THERE\n")
        loaded.append(TASKS.get("librispeech_test_other").load("test", data_dir=tmp_path / copy).samples[0])
    first, second = loaded
    assert first.audio is not None and second.audio is not None and first.audio.path != second.audio.path
    assert first.fields == second.fields  # what a stored score's inputs are checked against
    assert (first.id, first.reference) == (second.id, second.reference)


def test_hub_records_keep_their_audio_bytes() -> None:
    task: Any = TASKS.get("librispeech_test_clean")
    record = {
        "file": "1-2-3.flac",
        "audio": {"path": "1-2-3.flac", "bytes": b"fLaC"},
        "text": "HI",
        "speaker_id": 1,
        "chapter_id": 2,
        "id": "1-2-3",
    }
    sample = task.sample_from_record(record)
    assert sample.audio.data == b"fLaC" and "audio" not in sample.fields


def test_the_group_expands_to_both_subsets() -> None:
    assert [t.name for t in resolve_tasks(["librispeech"])] == ["librispeech_test_clean", "librispeech_test_other"]
