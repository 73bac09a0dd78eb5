"""Backends: a model's backend is part of its identity, vLLM requests mirror the transformers prompts,
vLLM stays optional, and the equivalence check pairs two runs sample by sample."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diffa_eval.backend_check import compare_runs
from diffa_eval.errors import ConfigError, MissingDependencyError
from diffa_eval.models import MODELS, load_model, with_backend
from diffa_eval.models.base import GenerationRequest
from diffa_eval.models.hf_common import render_prompt
from diffa_eval.models.presets import AUDIO_CHAT_PRESETS
from diffa_eval.models.tiny import tiny_audio_chat
from diffa_eval.models.vllm_backend import engine_kwargs, sampling_kwargs, vllm_requests
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import GenerationConfig, ModelSpec

from .mock_model import MockModel, Script

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_a_model_spec_names_its_backend_with_a_plus() -> None:
    spec = ModelSpec.parse("qwen2-audio-instruct+vllm@/ckpt/qwen")
    assert (spec.name, spec.backend, spec.checkpoint) == ("qwen2-audio-instruct", "vllm", "/ckpt/qwen")
    assert str(spec) == "qwen2-audio-instruct+vllm@/ckpt/qwen"
    assert ModelSpec.parse(str(spec)) == spec
    with pytest.raises(ConfigError):
        ModelSpec.parse("qwen2-audio-instruct+")


def test_the_default_backend_is_never_spelled_out_so_records_are_shared() -> None:
    assert with_backend(ModelSpec("qwen2-audio-instruct"), "transformers") == ModelSpec("qwen2-audio-instruct")
    assert with_backend(ModelSpec("qwen2-audio-instruct", backend="transformers"), None).backend is None
    assert with_backend(ModelSpec("qwen2-audio-instruct"), "vllm").backend == "vllm"
    assert with_backend(ModelSpec("qwen2-audio-instruct", backend="vllm"), "transformers").backend == "vllm"


def test_backend_choices_that_cannot_work_fail_clearly() -> None:
    with pytest.raises(ConfigError, match="no vllm backend"):
        with_backend(ModelSpec("whisper-large-v3"), "vllm")
    with pytest.raises(ConfigError, match="unknown backend"):
        with_backend(ModelSpec("qwen2-audio-instruct"), "onnx")
    assert with_backend(ModelSpec("chance"), "vllm") == ModelSpec("chance"), "baselines run as they are"
    with pytest.raises(ConfigError, match="does not run on a backend"):
        with_backend(ModelSpec("chance", backend="vllm"), None)


@pytest.fixture
def two_backend_model() -> Iterator[list[ModelSpec]]:
    seen: list[ModelSpec] = []

    def factory(spec: ModelSpec, device: str) -> Any:
        seen.append(spec)
        return MockModel(Script(name="dual"))

    MODELS.register("dual", factory, description="test model", tags=("transformers", "vllm"))
    yield seen
    MODELS.unregister("dual")


def test_two_backends_of_one_model_never_share_records(two_backend_model: list[ModelSpec], tmp_path: Path) -> None:
    task = TASKS.get("mmau_test_mini")
    base = RunOptions(split="sample", limit=2, output_dir=tmp_path)
    plain = evaluate([ModelSpec("dual")], [task], base)[0]
    on_vllm = evaluate([ModelSpec("dual")], [task], replace(base, backend="vllm"))[0]
    assert [spec.backend for spec in two_backend_model] == [None, "vllm"]
    assert on_vllm.generated == 2 and on_vllm.reused == 0
    assert plain.run_dir is not None and on_vllm.run_dir is not None
    assert plain.run_dir.parent != on_vllm.run_dir.parent
    assert read_run(on_vllm.run_dir).manifest.model == "dual+vllm"


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed")
def test_without_vllm_the_error_names_the_extra_to_install() -> None:
    with pytest.raises(MissingDependencyError, match=r"diffa-eval\[vllm\]"):
        load_model(ModelSpec("qwen2-audio-instruct", backend="vllm"))


def test_vllm_requests_carry_the_transformers_prompt_and_the_audio() -> None:
    preset = next(p for p in AUDIO_CHAT_PRESETS if p.name == "qwen2.5-omni-7b")
    model = tiny_audio_chat(preset)
    audio = np.zeros(8000, dtype=np.float32)
    requests = [GenerationRequest("a", "What is it?", audio), GenerationRequest("b", "No audio here", None)]
    built = vllm_requests(model.processor, requests, preset.system_prompt, 16_000)
    assert built[0]["prompt"] == render_prompt(model.processor, requests[0], preset.system_prompt)
    assert built[0]["prompt"].count("<|AUDIO|>") == 1, "vLLM expands the placeholder itself"
    (clip, rate), *rest = built[0]["multi_modal_data"]["audio"]
    assert rate == 16_000 and clip.dtype == np.float32 and len(clip) == 8000 and not rest
    assert "multi_modal_data" not in built[1]


def test_vllm_options_map_to_engine_and_sampling_arguments() -> None:
    config = GenerationConfig(max_new_tokens=32, seed=3, options={"tensor_parallel_size": 2, "max_model_len": 4096})
    engine = engine_kwargs("Qwen/Qwen2-Audio-7B-Instruct", config)
    assert engine["tensor_parallel_size"] == 2 and engine["max_model_len"] == 4096
    assert engine["limit_mm_per_prompt"] == {"audio": 1} and engine["trust_remote_code"] is False
    assert "max_num_seqs" not in engine, "unset options leave vLLM's own default"
    assert sampling_kwargs(config) == {"temperature": 0.0, "top_p": 1.0, "max_tokens": 32, "seed": 3, "n": 1}
    sampled = sampling_kwargs(GenerationConfig(temperature=0.7, top_p=0.9))
    assert (sampled["temperature"], sampled["top_p"]) == (0.7, 0.9)
    with pytest.raises(ConfigError, match="tensor_parallel_size"):
        engine_kwargs("x", GenerationConfig(options={"tensor_parallel_size": 0}))


def test_the_equivalence_check_pairs_samples_and_reports_agreement_and_speed(tmp_path: Path) -> None:
    task = TASKS.get("mmau_test_mini")
    options = RunOptions(split="sample", output_dir=tmp_path)
    outcomes = evaluate([ModelSpec("oracle"), ModelSpec("chance")], [task], options)
    oracle, chance = (read_run(o.run_dir) for o in outcomes if o.run_dir is not None)
    same = compare_runs(oracle, oracle)
    assert same.compared == 10 and same.text_agreement == 100.0 and same.answer_agreement == 100.0
    differ = compare_runs(oracle, chance)
    chance_outputs = {record.sample_id: record.output for record in chance.records()}
    agreeing = sum(record.output == chance_outputs[record.sample_id] for record in oracle.records())
    assert differ.compared == 10 and differ.same_text == agreeing < 10
    assert differ.candidate == "chance" and differ.baseline == "oracle"
