"""Hub loading through the real `datasets` code path, on local repositories in the hub layouts.

The hub is offline in tests, so a repository is a local folder with a README that declares its
configs, exactly as hub dataset repositories do; the task's hub id is pointed at it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import read_run
from diffa_eval.task import TASKS, builtin_module
from diffa_eval.types import ModelSpec


def _hub_repo(root: Path, config: str, rows: dict[str, list[Any]], audio_column: str) -> Path:
    from datasets import Audio, Dataset

    folder = root / "repo"
    (folder / config).mkdir(parents=True)
    Dataset.from_dict(rows).cast_column(audio_column, Audio()).to_parquet(str(folder / config / "test-00000.parquet"))
    card = f"configs:\n- config_name: {config}\n  data_files:\n  - split: test\n    path: {config}/test-*.parquet\n"
    (folder / "README.md").write_text(f"---\n{card}---\n")
    return folder


def _point_hub_at(monkeypatch: pytest.MonkeyPatch, task: Any, repo: Path) -> None:
    if hasattr(task, "hub_id"):
        monkeypatch.setattr(task, "hub_id", str(repo))
    else:
        monkeypatch.setattr(builtin_module(task.name.split("_")[0]), "HUB_ID", str(repo))  # e.g. librispeech


def test_librispeech_from_the_hub_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = TASKS.get("librispeech_test_other")
    bundled = task.load("sample").samples
    rows: dict[str, list[Any]] = {"file": [], "audio": [], "text": [], "speaker_id": [], "chapter_id": [], "id": []}
    for sample in bundled:
        rows["file"].append(Path(sample.audio.path).name)
        rows["audio"].append({"bytes": Path(sample.audio.path).read_bytes(), "path": Path(sample.audio.path).name})
        rows["text"].append(sample.reference)
        rows["speaker_id"].append(sample.fields["speaker_id"])
        rows["chapter_id"].append(sample.fields["chapter_id"])
        rows["id"].append(sample.id)
    _point_hub_at(monkeypatch, task, _hub_repo(tmp_path, "other", rows, "audio"))
    outcome = evaluate([ModelSpec("oracle")], [task], RunOptions(output_dir=tmp_path / "runs"))[0]
    assert outcome.error is None and outcome.metrics is not None
    assert (outcome.metrics.n_scored, outcome.metrics.metrics["wer"].value) == (5, 0.0)
    dataset = read_run(outcome.run_dir).manifest.dataset  # type: ignore[arg-type]
    assert dataset.source == "hub" and dataset.id.endswith("repo/other")


def test_mmau_from_the_hub_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = TASKS.get("mmau_test_mini")
    bundled = task.load("sample").samples
    letters = "ABCDEFGH"
    rows: dict[str, list[Any]] = {"context": [], "instruction": [], "choices": [], "answer": [], "other_attributes": []}
    for sample in bundled:
        prefixed = [f"({letters[i]}) {choice}" for i, choice in enumerate(sample.choices)]
        rows["context"].append({"bytes": Path(sample.audio.path).read_bytes(), "path": None})
        rows["instruction"].append(sample.fields["question"])
        rows["choices"].append(prefixed)
        rows["answer"].append(prefixed[sample.choices.index(sample.reference)])
        attributes = {
            k: sample.fields[k] for k in ("id", "dataset", "task", "split", "category", "sub-category", "difficulty")
        }
        rows["other_attributes"].append(json.dumps(attributes))
    _point_hub_at(monkeypatch, task, _hub_repo(tmp_path, "default", rows, "context"))
    outcome = evaluate([ModelSpec("oracle")], [task], RunOptions(output_dir=tmp_path / "runs"))[0]
    assert outcome.error is None and outcome.metrics is not None
    assert outcome.metrics.metrics["accuracy"].value == 100.0 and outcome.metrics.n_scored == len(bundled)
    records = read_run(outcome.run_dir).records()  # type: ignore[arg-type]
    assert {r.sample_id for r in records} == {s.id for s in bundled}
    assert all(r.output in r.prompt.splitlines() for r in records)  # options are shown without "(A) "


def test_mmau_test_from_its_hub_layout_with_the_audio_archive_unpacked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gamma-lab-umd/MMAU-test: a parquet with the official keys and `test-audios.tar.gz` beside it."""
    import tarfile

    from datasets import Dataset

    task = TASKS.get("mmau_test")
    bundled = task.load("sample")
    records = json.loads((Path(bundled.samples[0].audio.path).parent.parent / "mmau-test.json").read_text())
    records[0]["question"] += " "  # kept as given
    repo = tmp_path / "repo"
    repo.mkdir()
    Dataset.from_dict({key: [r[key] for r in records] for key in records[0]}).to_parquet(str(repo / "test.parquet"))
    with tarfile.open(repo / "test-audios.tar.gz", "w:gz") as archive:
        archive.add(Path(bundled.samples[0].audio.path).parent, arcname="test-audios")
    card = "configs:\n- config_name: default\n  data_files:\n  - split: test\n    path: test.parquet\n"
    (repo / "README.md").write_text(f"---\n{card}---\n")
    _point_hub_at(monkeypatch, task, repo)

    outcome = evaluate([ModelSpec("chance")], [task], RunOptions(output_dir=tmp_path / "runs"))[0]
    assert outcome.error is None and outcome.metrics is not None and outcome.metrics.n_failed == 0
    assert sorted(p.name for p in (repo / "test-audios").iterdir()) == sorted(f"{r['id']}.wav" for r in records)
    submission = json.loads((outcome.run_dir / "submission.json").read_text())  # type: ignore[union-attr]
    assert [row["id"] for row in submission] == [r["id"] for r in records]
    assert [row["audio_id"] for row in submission] == [r["audio_id"] for r in records]
    prompts = {r.sample_id: r.prompt for r in read_run(outcome.run_dir).records()}  # type: ignore[arg-type]
    assert prompts[records[0]["id"]].startswith(records[0]["question"] + "\n")
    assert read_run(outcome.run_dir).manifest.dataset.source == "hub"  # type: ignore[arg-type, union-attr]

    opened: list[Path] = []
    monkeypatch.setattr(tarfile, "open", lambda *args, **kwargs: opened.append(args[0]))
    assert len(task.load("test").samples) == len(records) and opened == []  # found unpacked: not opened again


def test_the_mmau_hints_name_where_each_audio_archive_is() -> None:
    mini, test = TASKS.get("mmau_test_mini"), TASKS.get("mmau_test")
    assert "test-mini-audios.tar.gz, linked from that repository's README" in mini.missing  # type: ignore[attr-defined]
    assert "huggingface.co/datasets/gamma-lab-umd/MMAU-test-mini" not in mini.missing  # type: ignore[attr-defined]
    assert "test-audios.tar.gz from https://huggingface.co/datasets/gamma-lab-umd/MMAU-test)" in test.missing  # type: ignore[attr-defined]


def test_a_voicebench_subset_with_shared_ids_gets_unique_stable_ids_and_keeps_the_original_for_scoring(
    tmp_path: Path,
) -> None:
    audio = sorted((Path(TASKS.get("voicebench_bbh").load("sample").samples[0].audio.path)).parent.glob("bbh-*"))
    rows: dict[str, list[Any]] = {
        "audio": [{"bytes": audio[0].read_bytes(), "path": audio[0].name}] * 3,
        "prompt": ["Go left, then right?", "Go left, then back?", "Does Ann lie?"],
        "id": ["navigate_0", "navigate_0", "web_of_lies_3"],
        "reference": ["yes", "no", "no"],
    }
    data = tmp_path / "data"
    data.mkdir()
    _hub_repo(tmp_path, "bbh", rows, "audio").rename(data / "voicebench")
    task = TASKS.get("voicebench_bbh")
    samples = task.load("test", data).samples
    assert [s.id for s in samples] == ["navigate_0@test-0", "navigate_0@test-1", "web_of_lies_3"]
    assert [s.fields["id"] for s in samples] == rows["id"]  # what the official evaluator dispatches on
    for answer, scores in (("yes", [1.0, 0.0, 0.0]), ("no", [0.0, 1.0, 1.0])):
        assert [task.score(sample, answer).value for sample in samples] == scores

    options = RunOptions(output_dir=tmp_path / "runs", data_dir=data)
    first = evaluate([ModelSpec("oracle")], [task], options)[0]
    assert first.error is None and first.metrics is not None
    assert (first.metrics.n_scored, first.metrics.metrics["accuracy"].value) == (3, 100.0)
    again = evaluate([ModelSpec("oracle")], [task], options)[0]
    assert (first.generated, again.generated, again.reused) == (3, 0, 3)  # the same ids on a second load


def test_voicebench_mmsu_items_are_named_by_their_question_id() -> None:
    record = {"question_id": 7021, "prompt": "Which organ pumps blood?", "reference": "C", "subset": "biology"}
    assert TASKS.get("voicebench_mmsu").sample_from_record({**record, "index": 0}).id == "7021"
