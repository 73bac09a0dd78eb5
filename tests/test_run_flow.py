"""One way through a run: planned once per sample, executed from the prepared samples, finished from the store.

Planning asks the task once per sample for everything the run needs; only a model that declares it reads
the reference ever gets it; finishing (metrics, submission file, compaction, the complete manifest) is the
same step for the runner, shards and `merge`, and needs no task code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.errors import StoreError
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.run.merge import merge_runs
from diffa_eval.run.sharding import ShardSpec
from diffa_eval.scoring.metrics import Accuracy
from diffa_eval.scoring.scorers import SCORERS
from diffa_eval.store import read_run
from diffa_eval.task import TASKS, LoadedData, PromptVariant, Task
from diffa_eval.types import AudioRef, DatasetInfo, ModelSpec, Sample

from .conftest import write_audio
from .mock_model import Registered, Script, registered

runner = CliRunner()


class CountingTask(Task):
    """Three multiple-choice items whose answers can be changed; counts what the runner asks it, per sample."""

    name = "counting"
    version = 1
    description = "Counts the questions the runner asks."
    scorer = SCORERS.get("choice_text_match")
    metrics = (Accuracy(),)
    breakdown_fields = ("kind",)
    splits = ("test",)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.answers = {f"q{i}": "Yes" for i in range(3)}
        self.asked: Counter[tuple[str, str]] = Counter()
        self.prompt_variants = (PromptVariant("counted", "the default prompt, counted", self.prompt),)
        self.default_prompt = "plain"

    def load(self, split: str, data_dir: Path | None = None) -> LoadedData:
        samples = [
            Sample(item, AudioRef(path=str(write_audio(self.folder / f"{item}.wav", 0.2))), answer, ("Yes", "No"),
                   {"kind": "even" if int(item[1]) % 2 == 0 else "odd"})
            for item, answer in self.answers.items()
        ]  # fmt: skip
        return LoadedData(samples, DatasetInfo("local", str(self.folder)))

    def sample_from_record(self, record: Mapping[str, Any], base_dir: Path | None = None) -> Sample:
        raise NotImplementedError

    def prompt(self, sample: Sample) -> str:
        self.asked["prompt", sample.id] += 1
        return f"Is it {sample.id}?"

    def answer_options(self, sample: Sample) -> tuple[str, ...]:
        self.asked["answer_options", sample.id] += 1
        return sample.choices

    def ideal_answer(self, sample: Sample) -> str | None:
        self.asked["ideal_answer", sample.id] += 1
        return sample.reference

    def breakdown_labels(self, sample: Sample) -> dict[str, str]:
        self.asked["breakdown_labels", sample.id] += 1
        return super().breakdown_labels(sample)


@pytest.fixture
def counting(tmp_path: Path) -> CountingTask:
    return CountingTask(tmp_path / "clips")


@pytest.fixture
def reader() -> Iterator[Registered]:
    """Model `reader`: answers with the reference it declares it reads."""
    with registered(Script(name="reader", reads_reference=True, answer=lambda request: request.reference or "")) as r:
        yield r


@pytest.fixture
def listener() -> Iterator[Registered]:
    """Model `listener`: does not read the reference; answers with the first option."""
    with registered(Script(name="listener")) as record:
        yield record


def _run(tmp_path: Path, model: str, task: Task, **options: Any) -> Any:
    settings = {"output_dir": tmp_path / "runs", "batch_size": 2, **options}
    return evaluate([ModelSpec(model)], [task], RunOptions(**settings))[0]


def test_the_runner_asks_the_task_once_per_sample_for_everything_the_run_needs(
    tmp_path: Path, counting: CountingTask, reader: Registered, listener: Registered
) -> None:
    _run(tmp_path, "reader", counting)
    asked = {(question, sample) for question, sample in counting.asked}
    assert asked == {
        (q, f"q{i}") for q in ("prompt", "answer_options", "ideal_answer", "breakdown_labels") for i in range(3)
    }
    assert set(counting.asked.values()) == {1}
    counting.asked.clear()
    _run(tmp_path, "listener", counting)
    assert not [key for key in counting.asked if key[0] == "ideal_answer"], "a model that does not read it"
    assert set(counting.asked.values()) == {1}


def test_only_a_model_that_declares_it_reads_the_reference_gets_it_or_has_it_in_its_resume_keys(
    tmp_path: Path, counting: CountingTask, reader: Registered, listener: Registered
) -> None:
    def keys(outcome: Any) -> dict[str, str]:
        return {record.sample_id: record.key for record in read_run(outcome.run_dir).records()}

    first = {model: keys(_run(tmp_path, model, counting)) for model in ("reader", "listener")}
    assert all(request.reference is None for request, _ in listener.requests)
    assert [request.reference for request, _ in reader.requests] == ["Yes", "Yes", "Yes"]
    counting.answers["q1"] = "No"  # the gold answer changes; the audio, prompt and options do not
    again = {model: _run(tmp_path, model, counting) for model in ("reader", "listener")}
    assert (again["reader"].generated, again["reader"].reused) == (1, 2)  # its request changed
    assert (again["listener"].generated, again["listener"].rescored) == (0, 1)  # the same output, scored anew
    assert keys(again["listener"]) == first["listener"]
    assert keys(again["reader"])["q1"] != first["reader"]["q1"]
    assert again["reader"].metrics.metrics["accuracy"].value == 100.0
    assert again["listener"].metrics.metrics["accuracy"].value == pytest.approx(200 / 3)


MMAU_TEST = "mmau_test"


def test_shards_of_mmau_test_gathered_from_several_output_dirs_keep_the_submission_file(tmp_path: Path) -> None:
    task = TASKS.get(MMAU_TEST)
    single = evaluate([ModelSpec("chance")], [task], RunOptions(split="sample", output_dir=tmp_path / "single"))[0]
    expected = (single.run_dir / "submission.json").read_text()
    assert len(json.loads(expected)) == 3
    for index in range(2):
        shard = ShardSpec(index, 2)
        options = RunOptions(split="sample", output_dir=tmp_path / f"node{index}", shard=shard)
        outcome = evaluate([ModelSpec("chance")], [task], options)[0]
        assert outcome.metrics is None and not (outcome.run_dir / "submission.json").exists()
    merged = tmp_path / "merged"
    result = runner.invoke(app, ["merge", str(tmp_path / "node0"), str(tmp_path / "node1"), "--into", str(merged)])
    assert result.exit_code == 0, result.output
    (run_dir,) = {path.parent for path in merged.rglob("manifest.json")}
    assert (run_dir / "submission.json").read_text() == expected


def _two_node_run(tmp_path: Path, task: Task) -> Path:
    for index in range(2):
        options = RunOptions(output_dir=tmp_path / f"node{index}", shard=ShardSpec(index, 2), batch_size=2)
        evaluate([ModelSpec("listener")], [task], options)
    return tmp_path


MERGE_IN_A_FRESH_PROCESS = """
import sys
from pathlib import Path

from diffa_eval.run.merge import merge_runs

root = Path(sys.argv[1])
(result,) = merge_runs([root / "node0", root / "node1"], into=root / "merged")
print(result.complete, result.metrics.metrics["accuracy"].value, "diffa_eval.task" in sys.modules)
"""


def test_merge_finishes_a_run_from_its_store_without_loading_any_task_code(
    tmp_path: Path, counting: CountingTask, listener: Registered
) -> None:
    _two_node_run(tmp_path, counting)
    done = subprocess.run(
        [sys.executable, "-c", MERGE_IN_A_FRESH_PROCESS, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "100.0", "False"]  # complete, scored, and the task module never imported


def _as_version_1(run_dir: Path) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for name in ("description", "variant", "scope", "judge"):
        manifest.pop(name)
    manifest.update(schema_version=1, status="running", finished_at=None)
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    (run_dir / "metrics.json").unlink()


def test_a_version_1_run_is_finished_with_its_tasks_code_only_where_the_caller_gives_it(tmp_path: Path) -> None:
    outcome = evaluate(
        [ModelSpec("oracle")], [TASKS.get("mmau_test_mini")], RunOptions(split="sample", output_dir=tmp_path)
    )[0]
    metrics = read_run(outcome.run_dir).metrics
    _as_version_1(outcome.run_dir)
    with pytest.raises(StoreError, match=r"older diffa-eval \(schema version 1\) and does not describe its metrics"):
        merge_runs([tmp_path])
    result = runner.invoke(app, ["merge", str(tmp_path)])  # the command line describes it with today's task code
    assert result.exit_code == 0, result.output
    assert replace(read_run(outcome.run_dir).metrics, cost=None) == replace(metrics, cost=None)  # type: ignore[arg-type]


def test_the_finishing_step_of_a_run_and_of_merge_write_the_same_files(tmp_path: Path) -> None:
    task = TASKS.get(MMAU_TEST)
    outcome = evaluate([ModelSpec("chance")], [task], RunOptions(split="sample", output_dir=tmp_path / "a"))[0]
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    copy = tmp_path / "b" / outcome.run_dir.relative_to(tmp_path / "a")
    for name in ("metrics.json", "submission.json"):
        (copy / name).unlink()
    (result,) = merge_runs([tmp_path / "b"])
    assert result.complete
    for name in ("metrics.json", "submission.json", "samples.jsonl", "plan.json"):
        ours, theirs = (outcome.run_dir / name).read_text(), (copy / name).read_text()
        if name == "metrics.json":
            ours, theirs = (json.dumps({**json.loads(t), "cost": None}) for t in (ours, theirs))
        assert ours == theirs, name
