"""Audio longer than a model's window is cut or skipped as asked, and recorded per sample."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from diffa_eval.errors import ConfigError
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

from .mock_model import Script, registered

LONG = "synthetic04_00-00-00_00-00-31"  # the 31 s clip of the MMAR sample


def _run(tmp_path: Path, policy: str) -> dict[str, object]:
    options = RunOptions(split="sample", output_dir=tmp_path, long_audio=policy)
    outcome = evaluate([ModelSpec("recording")], [TASKS.get("mmar")], options)[0]
    assert outcome.run_dir is not None
    return {record.sample_id: record for record in read_run(outcome.run_dir).records()}


@pytest.fixture
def windowed() -> Iterator[None]:
    """Model `recording` with a 30 s audio window."""
    with registered(Script(name="recording", max_audio_seconds=30.0)):
        yield


def test_truncate_gives_the_model_one_window_and_records_the_cut(tmp_path: Path, windowed: None) -> None:
    records = _run(tmp_path, "truncate")
    long = records[LONG]
    assert long.audio_seconds > 30 and long.audio_truncated_to == 30.0  # type: ignore[attr-defined]
    assert not long.failed  # type: ignore[attr-defined]
    assert all(r.audio_truncated_to is None for key, r in records.items() if key != LONG)  # type: ignore[attr-defined]


def test_skip_records_a_clear_failure_for_the_long_sample_only(tmp_path: Path, windowed: None) -> None:
    records = _run(tmp_path, "skip")
    assert records[LONG].error_stage == "audio"  # type: ignore[attr-defined]
    assert "longer than the model's 30 s window" in records[LONG].error  # type: ignore[attr-defined]
    assert sum(r.failed for r in records.values()) == 1  # type: ignore[attr-defined]


def test_the_policy_is_part_of_the_resume_key(tmp_path: Path, windowed: None) -> None:
    first = _run(tmp_path, "skip")
    second = _run(tmp_path, "truncate")
    assert first[LONG].key != second[LONG].key  # type: ignore[attr-defined]


def test_models_without_a_window_get_the_whole_clip(tmp_path: Path, recording_model: object) -> None:
    records = _run(tmp_path, "skip")
    assert not records[LONG].failed and records[LONG].audio_truncated_to is None  # type: ignore[attr-defined]


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ConfigError, match="long_audio must be one of truncate, skip"):
        RunOptions(long_audio="squeeze")
