"""vLLM and transformers on a real checkpoint (only where vLLM and a GPU exist; the weights are downloaded).

Set DIFFA_EVAL_VLLM_MODEL to another preset, or DIFFA_EVAL_VLLM_CHECKPOINT to a local copy.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from diffa_eval.backend_check import compare_backends
from diffa_eval.run import RunOptions
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec


def _gpu_with_vllm() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not _gpu_with_vllm(), reason="needs vLLM and a CUDA GPU"),
]


def test_vllm_answers_agree_with_transformers_on_the_sample_split(tmp_path: Path) -> None:
    model = ModelSpec(
        os.environ.get("DIFFA_EVAL_VLLM_MODEL", "qwen2-audio-instruct"), os.environ.get("DIFFA_EVAL_VLLM_CHECKPOINT")
    )
    options = RunOptions(split="sample", output_dir=tmp_path)
    agreements, outcomes = compare_backends(model, [TASKS.get("mmau_test_mini")], options, ["transformers", "vllm"])
    assert all(outcome.error is None for outcome in outcomes)
    (agreement,) = agreements
    assert agreement.compared == 10
    # bf16 kernels differ between the backends; greedy answers should still mostly agree.
    assert agreement.answer_agreement >= 70.0
