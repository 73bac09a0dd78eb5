"""Every task's bundled `sample` split runs end to end offline with the chance and oracle baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffa_eval.run import RunOptions, evaluate
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

JUDGED = {"voicebench_alpacaeval", "voicebench_alpacaeval_full", "voicebench_commoneval", "voicebench_wildvoice",
          "voicebench_sd_qa"}  # fmt: skip
NO_IDEAL_ANSWER = JUDGED - {"voicebench_sd_qa"} | {"voicebench_ifeval", "mmau_test"}


@pytest.fixture(autouse=True)
def no_judge(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DIFFA_EVAL_JUDGE_API_KEY", "OPENAI_API_KEY", "DIFFA_EVAL_JUDGE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DIFFA_EVAL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize("name", TASKS.names())
def test_the_sample_split_runs_offline_with_both_baselines(tmp_path: Path, name: str) -> None:
    task = TASKS.get(name)
    chance, oracle = evaluate([ModelSpec("chance"), ModelSpec("oracle")], [task], RunOptions(split="sample",
                              output_dir=tmp_path))  # fmt: skip
    for outcome in (chance, oracle):
        assert outcome.error is None and outcome.metrics is not None and outcome.metrics.n_samples >= 2
    assert chance.metrics is not None and chance.metrics.n_failed == 0
    assert chance.metrics.n_pending == (chance.metrics.n_samples if name in JUDGED else 0)
    assert oracle.metrics is not None
    if name in NO_IDEAL_ANSWER:  # nothing to return: each sample says so
        assert oracle.metrics.n_failed == oracle.metrics.n_samples
    elif name not in JUDGED:
        assert oracle.metrics.n_failed == 0
        primary = oracle.metrics.metrics[task.primary_metric]
        assert primary.value == (0.0 if primary.lower_is_better else 100.0)
