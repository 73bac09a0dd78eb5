"""The autoregressive baselines on tiny random-weight builds of their real architectures: batching
never changes a greedy answer, prompts use each model's own template, and whole runs work offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from diffa_eval.errors import ConfigError
from diffa_eval.models import MODELS
from diffa_eval.models.base import GenerationRequest
from diffa_eval.models.hf_common import render_prompt
from diffa_eval.models.presets import AUDIO_CHAT_PRESETS, QWEN2_5_OMNI_SYSTEM_PROMPT, AudioChatPreset
from diffa_eval.models.tiny import TINY_BUILDERS, tiny_audio_chat, tiny_whisper
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import GenerationConfig, ModelSpec

ARCHITECTURES = sorted({preset.architecture for preset in AUDIO_CHAT_PRESETS})
GREEDY = GenerationConfig(max_new_tokens=6)


def _preset(architecture: str) -> AudioChatPreset:
    return next(p for p in AUDIO_CHAT_PRESETS if p.architecture == architecture and not p.tiny)


def _requests(*seconds: float) -> list[GenerationRequest]:
    rng = np.random.default_rng(7)
    prompts = ["What sound is this?", "Transcribe the speech, please.", "Which instrument plays?", "Hi"]
    return [
        GenerationRequest(f"s{i}", prompts[i % len(prompts)], (0.1 * rng.standard_normal(int(s * 16_000))).astype("f"))
        for i, s in enumerate(seconds)
    ]


def test_every_audio_chat_preset_has_a_tiny_build_of_its_architecture() -> None:
    assert set(ARCHITECTURES) <= set(TINY_BUILDERS)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_batched_greedy_outputs_equal_one_at_a_time_outputs(architecture: str) -> None:
    model = tiny_audio_chat(_preset(architecture))
    requests = _requests(1.0, 2.5, 0.4)
    batched = model.generate(requests, GREEDY)
    alone = [model.generate([request], GREEDY)[0] for request in requests]
    assert [o.text for o in batched] == [o.text for o in alone]
    assert [o.generated_tokens for o in batched] == [o.generated_tokens for o in alone]
    assert len({o.text for o in batched}) > 1, "different inputs should give different outputs"
    assert all(o.error is None and o.generated_tokens and o.generated_tokens <= 6 for o in batched)


@pytest.mark.parametrize(
    ("architecture", "placeholder"),
    [
        ("Qwen2AudioForConditionalGeneration", "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\nWhat sound is this?"),
        ("Qwen2_5OmniThinkerForConditionalGeneration", "<|audio_bos|><|AUDIO|><|audio_eos|>What sound is this?"),
        ("AudioFlamingo3ForConditionalGeneration", "<sound>What sound is this?"),
    ],
)
def test_prompts_put_the_models_audio_placeholder_before_the_instruction(architecture: str, placeholder: str) -> None:
    model = tiny_audio_chat(_preset(architecture))
    text = render_prompt(model.processor, _requests(1.0)[0], model.system_prompt)
    assert placeholder in text
    assert text.endswith("<|im_start|>assistant\n")


def test_qwen2_5_omni_gets_its_required_system_prompt() -> None:
    model = tiny_audio_chat(_preset("Qwen2_5OmniThinkerForConditionalGeneration"))
    text = render_prompt(model.processor, _requests(1.0)[0], model.system_prompt)
    assert text.startswith(f"<|im_start|>system\n{QWEN2_5_OMNI_SYSTEM_PROMPT}<|im_end|>")


def test_an_unknown_generation_option_is_an_error_not_ignored() -> None:
    model = tiny_audio_chat(_preset("Qwen2AudioForConditionalGeneration"))
    with pytest.raises(ConfigError, match="steps"):
        model.generate(_requests(1.0), GenerationConfig(max_new_tokens=2, options={"steps": 4}))


@pytest.fixture
def tiny_models() -> Iterator[list[str]]:
    """Every audio chat architecture and Whisper, registered as tiny random models."""
    names = []
    for architecture in ARCHITECTURES:
        preset = _preset(architecture)
        name = f"tiny-{preset.name}"
        MODELS.register(name, lambda spec, device, p=preset: tiny_audio_chat(p), tags=("transformers",))
        names.append(name)
    MODELS.register("tiny-whisper", lambda spec, device: tiny_whisper(), tags=("transformers",))
    names.append("tiny-whisper")
    yield names
    for name in names:
        MODELS.unregister(name)


def test_every_architecture_runs_end_to_end_on_the_sample_splits(tiny_models: list[str], tmp_path: Path) -> None:
    tasks = [TASKS.get("mmau_test_mini"), TASKS.get("librispeech_test_clean")]
    options = RunOptions(split="sample", limit=3, batch_size=2, output_dir=tmp_path)
    outcomes = evaluate([ModelSpec(name) for name in tiny_models], tasks, options)
    assert len(outcomes) == 2 * len(tiny_models)
    for outcome in outcomes:
        assert outcome.error is None and outcome.metrics is not None
        assert outcome.metrics.n_failed == 0 and outcome.generated == 3
        assert outcome.run_dir is not None
        manifest = read_run(outcome.run_dir).manifest
        assert manifest.model_info["backend"] == "transformers"
        assert manifest.model_info["dtype"] == "float32"
    variants = {(o.model, o.task): read_run(o.run_dir).manifest.prompt_variant for o in outcomes if o.run_dir}
    assert variants[("tiny-qwen2-audio-instruct", "librispeech_test_clean")] == "qwen2-audio"
    assert variants[("tiny-qwen2.5-omni-7b", "librispeech_test_clean")] == "qwen2.5-omni"
    assert variants[("tiny-qwen2-audio-instruct", "mmau_test_mini")] == "default"


def test_whisper_batched_greedy_outputs_equal_one_at_a_time_outputs() -> None:
    model = tiny_whisper()
    requests = _requests(1.0, 2.5, 0.4)
    batched = model.generate(requests, GREEDY)
    alone = [model.generate([request], GREEDY)[0] for request in requests]
    assert [o.text for o in batched] == [o.text for o in alone]
    assert all(o.generated_tokens for o in batched)


def test_whisper_decodes_audio_over_30_seconds_long_form_without_cutting_it() -> None:
    model = tiny_whisper()
    requests = _requests(45.0, 1.0)
    features, long_form = model.features([r.audio for r in requests if r.audio is not None])
    assert long_form and features["input_features"].shape[-1] == 4500
    outputs = model.generate(requests, GenerationConfig(max_new_tokens=4))
    assert all(o.error is None for o in outputs)
    assert outputs[0].generated_tokens is not None and outputs[0].generated_tokens > 4, "one window each 30 s"
    assert "long_form" in model.info()
