"""The runner: resume without repeats, batching by length, failures recorded per sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from diffa_eval.errors import StoreError, UnknownNameError
from diffa_eval.models import MODELS
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

from .conftest import write_audio

MMAU = "mmau_test_mini"


def _options(tmp_path: Path, **changes: object) -> RunOptions:
    settings: dict[str, object] = {"split": "sample", "output_dir": tmp_path / "runs", "batch_size": 4}
    settings.update(changes)
    return RunOptions(**settings)  # type: ignore[arg-type]


def _lines(run_dir: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]


def _mmau_folder(root: Path, items: list[tuple[str, str | None]]) -> Path:
    """An MMAU-layout folder; each item is (id, audio kind) with kinds good/missing/corrupt/nan/long."""
    folder = root / "MMAU"
    records = []
    for item_id, kind in items:
        path = folder / "test-mini-audios" / f"{item_id}.wav"
        if kind == "good":
            write_audio(path, seconds=0.3)
        elif kind == "long":
            write_audio(path, seconds=1.5)
        elif kind == "corrupt":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"RIFF....WAVEjunk")
        elif kind == "nan":
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, np.full(800, np.nan, dtype=np.float32), 16_000, subtype="FLOAT")
        records.append(
            {
                "id": item_id,
                "audio_id": f"./test-mini-audios/{item_id}.wav",
                "question": "Which?",
                "choices": ["Yes", "No"],
                "answer": "Yes",
                "dataset": "synthetic",
                "task": "sound",
                "split": "test-mini",
                "category": "Reasoning",
                "sub-category": "Counting",
                "difficulty": "easy",
            }
        )
    (folder / "mmau-test-mini.json").write_text(json.dumps(records))
    return root


def test_a_second_identical_run_does_no_model_work(tmp_path: Path, recording_model) -> None:  # type: ignore[no-untyped-def]
    name, calls, _ = recording_model
    tasks = [TASKS.get(MMAU), TASKS.get("librispeech_test_clean")]
    first = evaluate([ModelSpec(name)], tasks, _options(tmp_path))
    assert [o.generated for o in first] == [10, 5]
    made = len(calls)
    second = evaluate([ModelSpec(name)], tasks, _options(tmp_path))
    assert len(calls) == made
    assert [(o.generated, o.reused) for o in second] == [(0, 10), (0, 5)]
    assert second[0].metrics == first[0].metrics
    assert len(_lines(second[0].run_dir)) == 10  # type: ignore[arg-type]


def test_resume_does_not_depend_on_batch_size(tmp_path: Path, recording_model) -> None:  # type: ignore[no-untyped-def]
    name, calls, _ = recording_model
    task = [TASKS.get(MMAU)]
    evaluate([ModelSpec(name)], task, _options(tmp_path, limit=4, batch_size=2))
    done_first = {sample for batch in calls for sample in batch}
    calls.clear()
    resumed = evaluate([ModelSpec(name)], task, _options(tmp_path, batch_size=3))[0]
    assert resumed.reused == 4 and resumed.generated == 6
    assert not done_first & {sample for batch in calls for sample in batch}
    fresh = evaluate([ModelSpec(name)], task, _options(tmp_path / "fresh", batch_size=10))[0]
    strip = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in _lines(resumed.run_dir)] == [  # type: ignore[arg-type]
        {k: v for k, v in r.items() if k not in strip}
        for r in _lines(fresh.run_dir)  # type: ignore[arg-type]
    ]


def test_samples_are_batched_by_audio_length(tmp_path: Path, recording_model) -> None:  # type: ignore[no-untyped-def]
    name, calls, _ = recording_model
    outcome = evaluate([ModelSpec(name)], [TASKS.get(MMAU)], _options(tmp_path, batch_size=3))[0]
    seconds = {r["sample_id"]: r["audio_seconds"] for r in _lines(outcome.run_dir)}  # type: ignore[arg-type]
    order = [seconds[sample] for batch in calls for sample in batch]
    assert order == sorted(order)
    assert [len(batch) for batch in calls] == [3, 3, 3, 1]


def test_bad_audio_is_recorded_per_sample_and_everything_else_runs(tmp_path: Path, recording_model) -> None:  # type: ignore[no-untyped-def]
    name, calls, _ = recording_model
    data = _mmau_folder(
        tmp_path / "data", [("ok-1", "good"), ("gone", "missing"), ("bad", "corrupt"), ("nan", "nan"), ("ok-2", "long")]
    )
    outcome = evaluate([ModelSpec(name)], [TASKS.get(MMAU)], _options(tmp_path, split="test", data_dir=data))[0]
    assert outcome.metrics is not None
    assert (outcome.metrics.n_scored, outcome.metrics.n_failed) == (2, 3)
    assert outcome.metrics.metrics["accuracy"].value == 100.0
    records = {r["sample_id"]: r for r in _lines(outcome.run_dir)}  # type: ignore[arg-type]
    assert records["gone"]["error"].startswith("audio file not found")  # type: ignore[union-attr]
    assert records["bad"]["error"].startswith("cannot decode audio")  # type: ignore[union-attr]
    assert "NaN or infinite" in records["nan"]["error"]  # type: ignore[operator]
    assert {records[k]["error_stage"] for k in ("gone", "bad", "nan")} == {"audio"}
    assert sorted(s for batch in calls for s in batch) == ["ok-1", "ok-2"]
    assert outcome.failed_fraction == pytest.approx(0.6)


def test_a_sample_whose_audio_appears_later_is_kept_once(tmp_path: Path, recording_model) -> None:  # type: ignore[no-untyped-def]
    name, _, _ = recording_model
    data = _mmau_folder(tmp_path / "data", [("ok-1", "good"), ("late", "missing")])
    options = _options(tmp_path, split="test", data_dir=data)
    first = evaluate([ModelSpec(name)], [TASKS.get(MMAU)], options)[0]
    assert first.metrics is not None and first.metrics.n_failed == 1
    write_audio(data / "MMAU" / "test-mini-audios" / "late.wav")
    second = evaluate([ModelSpec(name)], [TASKS.get(MMAU)], options)[0]
    assert (second.generated, second.reused) == (1, 1)
    assert [(r["sample_id"], r["error"]) for r in _lines(second.run_dir)] == [("ok-1", None), ("late", None)]  # type: ignore[arg-type]


def test_an_unwritable_output_directory_fails_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot write to output directory"):
        evaluate([ModelSpec("chance")], [TASKS.get(MMAU)], _options(tmp_path, output_dir=tmp_path / "file" / "runs"))


def test_a_batch_that_raises_is_retried_one_by_one(tmp_path: Path, recording_model) -> None:  # type: ignore[no-untyped-def]
    name, calls, fail_on = recording_model
    sample_ids = [s.id for s in TASKS.get(MMAU).load("sample").samples]
    fail_on.add(sample_ids[0])
    outcome = evaluate([ModelSpec(name)], [TASKS.get(MMAU)], _options(tmp_path, batch_size=10))[0]
    assert len(calls) == 1 + 10  # the batch, then each sample alone
    records = {r["sample_id"]: r for r in _lines(outcome.run_dir)}  # type: ignore[arg-type]
    assert records[sample_ids[0]]["error"] == "RuntimeError: boom"
    assert records[sample_ids[0]]["error_stage"] == "model"
    assert sum(1 for r in records.values() if r["error"]) == 1


def test_failed_samples_are_retried_on_the_next_run_and_kept_once(tmp_path: Path, recording_model) -> None:  # type: ignore[no-untyped-def]
    name, calls, fail_on = recording_model
    failing = TASKS.get(MMAU).load("sample").samples[3].id
    fail_on.add(failing)
    evaluate([ModelSpec(name)], [TASKS.get(MMAU)], _options(tmp_path, batch_size=1))
    fail_on.clear()
    calls.clear()
    outcome = evaluate([ModelSpec(name)], [TASKS.get(MMAU)], _options(tmp_path, batch_size=1))[0]
    assert calls == [[failing]]
    lines = _lines(outcome.run_dir)  # type: ignore[arg-type]
    assert len(lines) == 10 and len({line["sample_id"] for line in lines}) == 10
    assert outcome.metrics is not None and outcome.metrics.n_failed == 0


def test_a_model_that_fails_to_load_is_reported_and_the_others_still_run(tmp_path: Path, recording_model) -> None:  # type: ignore[no-untyped-def]
    def broken(spec: ModelSpec, device: str) -> None:
        raise OSError("weights not found at /nowhere")

    MODELS.register("broken", broken)
    try:
        outcomes = evaluate([ModelSpec("broken"), ModelSpec("recording")], [TASKS.get(MMAU)], _options(tmp_path))
    finally:
        MODELS.unregister("broken")
    assert outcomes[0].error == "model broken failed to load: OSError: weights not found at /nowhere"
    assert outcomes[0].failed_fraction == 1.0
    assert outcomes[1].error is None and outcomes[1].generated == 10


def test_unknown_models_fail_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'oracle'"):
        evaluate([ModelSpec("oracel")], [TASKS.get(MMAU)], _options(tmp_path))
    assert not (tmp_path / "runs").exists()


def test_missing_data_is_reported_with_what_to_download(tmp_path: Path) -> None:
    outcome = evaluate([ModelSpec("chance")], [TASKS.get(MMAU)], _options(tmp_path, split="test", data_dir=tmp_path))[0]
    assert outcome.error is not None
    assert "mmau-test-mini.json" in outcome.error and "--split sample" in outcome.error


def test_the_manifest_records_provenance(tmp_path: Path) -> None:
    outcome = evaluate([ModelSpec("oracle")], [TASKS.get(MMAU)], _options(tmp_path, seed=7))[0]
    manifest = read_run(outcome.run_dir).manifest  # type: ignore[arg-type]
    assert manifest.status == "complete" and manifest.finished_at is not None
    assert (manifest.task, manifest.task_version, manifest.split) == (MMAU, 2, "sample")
    assert manifest.seed == 7 and manifest.generation.seed == 7
    assert manifest.dataset.source == "bundled"
    assert len(manifest.dataset.revision or "") == 40  # git blob sha of the metadata file
    assert {"diffa-eval", "numpy"} <= set(manifest.packages)
    assert manifest.device == "cpu"


def test_other_generation_settings_make_another_run(tmp_path: Path) -> None:
    task = [TASKS.get(MMAU)]
    default = evaluate([ModelSpec("chance")], task, _options(tmp_path))[0]
    longer = evaluate([ModelSpec("chance")], task, _options(tmp_path, generation={"max_new_tokens": 8}))[0]
    assert default.run_dir != longer.run_dir
    assert longer.generated == 10


def test_chance_is_seeded_per_sample_and_oracle_is_perfect(tmp_path: Path) -> None:
    tasks = [TASKS.get(MMAU), TASKS.get("librispeech_test_other")]
    chance = evaluate([ModelSpec("chance")], tasks, _options(tmp_path / "a", batch_size=1))
    again = evaluate([ModelSpec("chance")], tasks, _options(tmp_path / "b", batch_size=7))
    oracle = evaluate([ModelSpec("oracle")], tasks, _options(tmp_path))
    outputs = [[r["output"] for r in _lines(o.run_dir)] for o in (chance[0], again[0])]  # type: ignore[arg-type]
    assert outputs[0] == outputs[1]
    assert chance[1].metrics is not None and chance[1].metrics.metrics["wer"].value == 100.0
    assert oracle[0].metrics is not None and oracle[0].metrics.metrics["accuracy"].value == 100.0
    assert oracle[1].metrics is not None and oracle[1].metrics.metrics["wer"].value == 0.0
