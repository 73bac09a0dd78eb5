"""Each built-in benchmark lives in one package under tasks/: its task, scorers, rules, prompts and samples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from diffa_eval.scoring.scorers import SCORERS
from diffa_eval.task import BUILTIN_PACKAGE, TASKS, builtin_module, builtin_tasks_dir

BENCHMARKS = {"mmau", "mmsu", "mmar", "voicebench", "librispeech"}


def _benchmark_of(task_name: str) -> str:
    module = type(TASKS.get(task_name)).__module__
    assert module.startswith(f"{BUILTIN_PACKAGE}."), module
    return module.split(".")[2]


def test_every_built_in_task_is_defined_in_its_benchmark_package() -> None:
    builtin = [entry.name for entry in TASKS.entries() if entry.origin.startswith("builtin")]
    assert {_benchmark_of(name) for name in builtin} == BENCHMARKS
    for name in builtin:
        assert name.startswith(_benchmark_of(name)), name


def test_a_benchmark_scorer_lives_with_its_task_and_only_shared_rules_are_in_the_generic_registry() -> None:
    assert set(SCORERS.names()) == {"choice_text_match", "hidden_answers", "whisper_wer"}
    for name in ("mmsu", "voicebench_bbh", "voicebench_alpacaeval", "voicebench_ifeval"):
        scorer_module = type(TASKS.get(name).scorer).__module__
        assert scorer_module.startswith(f"{BUILTIN_PACKAGE}.{_benchmark_of(name)}."), (name, scorer_module)


def test_bundled_samples_are_in_their_benchmark_package() -> None:
    for name in TASKS.names():
        task = TASKS.get(name)
        if "sample" not in task.splits:
            continue
        samples = builtin_tasks_dir() / _benchmark_of(name) / "samples"
        for sample in task.load("sample").samples:
            assert sample.audio is not None and sample.audio.path is not None
            assert Path(sample.audio.path).resolve().is_relative_to(samples.resolve()), (name, sample.audio.path)
    assert not (builtin_tasks_dir() / "samples").exists()


def test_builtin_module_gives_the_modules_the_registry_uses() -> None:
    assert builtin_module("mmsu").MMSU is type(TASKS.get("mmsu"))
    scorers = builtin_module("voicebench.scorers")
    assert isinstance(TASKS.get("voicebench_openbookqa").scorer, scorers.VoiceBenchChoice)
    assert builtin_module("voicebench.evaluators").mcq_letter("(B) Photosynthesis") == "B"


def test_builtin_module_works_before_the_registry_is_used_and_registers_each_task_once() -> None:
    code = (
        "from diffa_eval.task import TASKS, builtin_module\n"
        "print(builtin_module('voicebench.judging').qa_vote(['Yes', 'yes', 'No']))\n"
        "print(sum(entry.origin.startswith('builtin') for entry in TASKS.entries()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    builtin = sum(entry.origin.startswith("builtin") for entry in TASKS.entries())
    assert done.stdout.split() == ["True", str(builtin)]


def test_every_built_in_metric_tells_a_table_reader_its_title_and_protocol() -> None:
    for name in TASKS.names():
        for metric in TASKS.get(name).describe().metrics:
            assert metric.title and metric.protocol, (name, metric.name)
    strict = TASKS.get("mmsu").describe().metric("accuracy_strict")
    assert strict is not None and strict.protocol == "unparsable answers count as wrong"
    judge = TASKS.get("voicebench_wildvoice").describe().metric("gpt_score")
    assert judge is not None and judge.unit == "1-5"
