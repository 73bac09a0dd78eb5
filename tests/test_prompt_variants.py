"""Prompt variants: a model's preferred prompt, a forced one, and both kept apart in the store."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from diffa_eval.errors import ConfigError
from diffa_eval.models import MODELS
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.scoring.metrics import Accuracy
from diffa_eval.scoring.scorers import SCORERS
from diffa_eval.store import read_run
from diffa_eval.task import TASKS, LoadedData, PromptVariant, Task
from diffa_eval.types import AudioRef, DatasetInfo, GenerationConfig, ModelSpec, Sample

from .conftest import tone
from .mock_model import MockModel, Script


class TwoPromptTask(Task):
    name = "two_prompts"
    version = 1
    description = "a task with an official prompt and a model family's own prompt"
    scorer = SCORERS.get("choice_text_match")
    metrics = (Accuracy(),)
    default_prompt = "official"
    generation = GenerationConfig(max_new_tokens=32, options={"keep": 1})
    prompt_variants = (
        PromptVariant(
            "family",
            "how the family's authors prompt",
            lambda sample: f"FAMILY: {sample.fields['question']}",
            {"max_new_tokens": 4, "options": {"steps": 4}},
        ),
    )

    def load(self, split: str, data_dir: Path | None = None) -> LoadedData:
        clip = AudioRef(array=tone(0.1), sampling_rate=16_000)
        samples = [Sample(f"q{i}", clip, "Yes", ("Yes", "No"), {"question": f"Question {i}?"}) for i in range(3)]
        return LoadedData(samples, DatasetInfo("bundled", "two_prompts"))

    def sample_from_record(self, record: Mapping[str, Any], base_dir: Path | None = None) -> Sample:
        raise NotImplementedError

    def prompt(self, sample: Sample) -> str:
        return f"OFFICIAL: {sample.fields['question']}"


@pytest.fixture
def task() -> Iterator[Task]:
    instance = TwoPromptTask()
    TASKS.register(instance.name, instance, description=instance.description)
    yield instance
    TASKS.unregister(instance.name)


@pytest.fixture
def models() -> Iterator[dict[str, MockModel]]:
    """Two scripted models: `plain` has no preference, `family` prefers the family prompt."""
    made: dict[str, MockModel] = {}
    for name, preferred in (("plain", ()), ("family", ("missing", "family"))):

        def factory(spec: ModelSpec, device: str, name: str = name, preferred: tuple[str, ...] = preferred) -> Any:
            model = MockModel(Script(name=name, prompt_variants=preferred))
            made[name] = model
            return model

        MODELS.register(name, factory, description="test model")
    yield made
    for name in ("plain", "family"):
        MODELS.unregister(name)


def _run(tmp_path: Path, task: Task, models: str, **options: Any) -> list[Any]:
    specs = [ModelSpec.parse(name) for name in models.split(",")]
    return evaluate(specs, [task], RunOptions(split="test", output_dir=tmp_path, **options))


def test_each_model_gets_its_preferred_variant_else_the_default(
    tmp_path: Path, task: Task, models: dict[str, MockModel]
) -> None:
    outcomes = _run(tmp_path, task, "plain,family")
    plain, family = (read_run(o.run_dir) for o in outcomes)
    assert plain.manifest.prompt_variant == "official"
    assert family.manifest.prompt_variant == "family"
    assert [r.prompt for r, _ in models["plain"].requests] == [f"OFFICIAL: Question {i}?" for i in range(3)]
    assert [r.prompt for r, _ in models["family"].requests] == [f"FAMILY: Question {i}?" for i in range(3)]


def test_a_variant_brings_its_generation_settings_merged_with_the_tasks(
    tmp_path: Path, task: Task, models: dict[str, MockModel]
) -> None:
    _run(tmp_path, task, "plain,family")
    (_, plain_config), (_, family_config) = models["plain"].requests[0], models["family"].requests[0]
    assert (plain_config.max_new_tokens, dict(plain_config.options)) == (32, {"keep": 1})
    assert (family_config.max_new_tokens, dict(family_config.options)) == (4, {"keep": 1, "steps": 4})


def test_user_overrides_win_over_the_variant(tmp_path: Path, task: Task, models: dict[str, MockModel]) -> None:
    _run(tmp_path, task, "family", generation={"max_new_tokens": 8, "options": {"steps": 2}})
    _, config = models["family"].requests[0]
    assert (config.max_new_tokens, dict(config.options)) == (8, {"keep": 1, "steps": 2})


def test_a_forced_variant_applies_to_every_model_and_gets_its_own_run(
    tmp_path: Path, task: Task, models: dict[str, MockModel]
) -> None:
    preferred = _run(tmp_path, task, "family")[0]
    forced = _run(tmp_path, task, "family", prompt="official")[0]
    assert forced.run_dir != preferred.run_dir
    assert forced.generated == 3
    assert read_run(forced.run_dir).manifest.prompt_variant == "official"
    again = _run(tmp_path, task, "family", prompt="official")[0]
    assert (again.generated, again.reused) == (0, 3)


def test_an_unknown_forced_variant_names_the_ones_that_exist(task: Task) -> None:
    with pytest.raises(ConfigError, match="no prompt variant 'nope'; its variants: official, family"):
        task.select_prompt(forced="nope")


def test_a_run_with_an_unknown_forced_variant_fails_before_any_work(
    tmp_path: Path, task: Task, models: dict[str, MockModel]
) -> None:
    with pytest.raises(ConfigError, match="no prompt variant"):
        _run(tmp_path, task, "plain", prompt="nope")
    assert not models
