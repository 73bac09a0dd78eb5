"""MMSU scores and prompts against the official and DIFFA's scripts, run unchanged on generated items.

The scripts are not shipped: set DIFFA_EVAL_MMSU_OFFICIAL to a checkout of dingdongwang/MMSU and
DIFFA_EVAL_DIFFA_CHECKOUT to one of NKU-HLT/DIFFA (DIFFA-1 at its root); each test skips without its
checkout. The items and the way the scripts are run come from `scripts/parity_mmsu.py`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from diffa_eval.predictions import prediction_of
from diffa_eval.task import TASKS

OFFICIAL = os.environ.get("DIFFA_EVAL_MMSU_OFFICIAL")
DIFFA = os.environ.get("DIFFA_EVAL_DIFFA_CHECKOUT")
PARITY_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "parity_mmsu.py"


@pytest.fixture(scope="module")
def parity() -> ModuleType:
    spec = importlib.util.spec_from_file_location("parity_mmsu", PARITY_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _our_scores(items: list[dict[str, object]]) -> list[float | None]:
    task = TASKS.get("mmsu")
    return [task.score(task.sample_from_record(item), prediction_of(task, item)).value for item in items]


@pytest.mark.skipif(not OFFICIAL, reason="set DIFFA_EVAL_MMSU_OFFICIAL to a checkout of dingdongwang/MMSU")
def test_every_item_scores_as_the_official_evaluation_scores_it(parity: ModuleType) -> None:
    items = parity.make_items(800, seed=3)
    evaluation = parity.load_module(Path(OFFICIAL or "") / "mmsu_evaluation.py", "official_mmsu_evaluation")
    expected, _, _ = parity.official_scores(evaluation, items)
    assert _our_scores(items) == expected


@pytest.mark.skipif(not OFFICIAL, reason="set DIFFA_EVAL_MMSU_OFFICIAL to a checkout of dingdongwang/MMSU")
def test_the_official_prompt_is_the_one_the_official_inference_script_builds(parity: ModuleType) -> None:
    items = parity.make_items(300, seed=4)
    assert parity.our_prompts(items, "official") == parity.official_prompts(
        Path(OFFICIAL or "") / "mmsu_inference.py", items
    )


@pytest.mark.skipif(not DIFFA, reason="set DIFFA_EVAL_DIFFA_CHECKOUT to a checkout of NKU-HLT/DIFFA")
def test_strict_accuracy_is_diffas_evaluation_and_the_diffa_prompt_its_inference_prompt(parity: ModuleType) -> None:
    items = parity.make_items(300, seed=5)
    evaluate = parity.load_module(Path(DIFFA or "") / "mmsu" / "evaluate.py", "diffa_mmsu_evaluate")
    expected, _, _ = parity.diffa_scores(evaluate, items)
    assert parity.our_strict(items) == expected
    assert parity.our_prompts(items, "diffa") == parity.diffa_prompts(Path(DIFFA or ""), items)
