"""Clips shorter than a model's feature extraction allows: evaluated as the reference pads them, or a clear error.

Whisper's feature extractor pads every clip to 30 s, so Whisper, Qwen2.5-Omni and Audio Flamingo 3 take
any length. DIFFA's semantic projector needs 4 encoder frames (7 mel frames, 961 samples at 16 kHz), and
transformers' Qwen2-Audio fails when a clip yields a single audio token (under 7 mel frames as well): those
clips are that sample's "too short" error, never a crash inside the model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from diffa_eval.models import MODELS, load_model
from diffa_eval.models.base import GenerationRequest
from diffa_eval.models.presets import AUDIO_CHAT_PRESETS
from diffa_eval.models.tiny import tiny_audio_chat, tiny_whisper
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import GenerationConfig, ModelSpec

LENGTHS = (1, 160, 800, 960, 961, 4_000)
"""Samples at 16 kHz: 1 sample, 10 ms, 50 ms, 60 ms (6 mel frames), 60.06 ms (7 frames), 250 ms."""
SHORTEST = 961


def _architecture(name: str) -> Any:
    preset = next(p for p in AUDIO_CHAT_PRESETS if p.architecture == name and not p.tiny)
    return lambda spec, device: tiny_audio_chat(preset)


@pytest.fixture
def tiny_families() -> Iterator[None]:
    """The tiny builds of the AR architectures without a preset of their own, and Whisper."""
    MODELS.register("tiny-whisper", lambda spec, device: tiny_whisper(), tags=("transformers",))
    MODELS.register("tiny-omni", _architecture("Qwen2_5OmniThinkerForConditionalGeneration"), tags=("transformers",))
    MODELS.register("tiny-af3", _architecture("AudioFlamingo3ForConditionalGeneration"), tags=("transformers",))
    yield
    for name in ("tiny-whisper", "tiny-omni", "tiny-af3"):
        MODELS.unregister(name)


def _corpus(root: Path) -> Path:
    folder = root / "MMAU" / "test-mini-audios"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    items = []
    for length in LENGTHS:
        soundfile.write(folder / f"n{length}.wav", (0.1 * rng.standard_normal(length)).astype(np.float32), 16_000)
        items.append({"id": f"n{length}", "audio_id": f"./test-mini-audios/n{length}.wav", "question": "Which?",
                      "choices": ["Yes", "No"], "answer": "Yes", "task": "sound"})  # fmt: skip
    (root / "MMAU" / "mmau-test-mini.json").write_text(json.dumps(items))
    return root


@pytest.mark.parametrize(
    ("model", "pads"),
    [
        ("tiny-whisper", True),
        ("tiny-omni", True),
        ("tiny-af3", True),
        ("diffa-tiny", False),
        ("qwen2-audio-tiny", False),
    ],
)
def test_clips_of_any_length_are_padded_as_the_feature_extractor_does_or_fail_as_too_short(
    tmp_path: Path, tiny_families: None, model: str, pads: bool
) -> None:
    root = _corpus(tmp_path)
    # batches of two by length: the shortest batch holds 1 and 160 samples, shorter than Whisper's STFT padding
    options = RunOptions(split="test", data_dir=root, output_dir=tmp_path / "runs", batch_size=2,
                         generation={"max_new_tokens": 2})  # fmt: skip
    (outcome,) = evaluate([ModelSpec(model)], [TASKS.get("mmau_test_mini")], options)
    records = {r.sample_id: r for r in read_run(outcome.run_dir).records()}
    for length in LENGTHS:
        record = records[f"n{length}"]
        if pads or length >= SHORTEST:
            assert record.error is None and record.output is not None, (length, record.error)
        else:
            assert record.error_stage == "audio", (length, record.error)
            assert record.error == (
                f"audio clip is too short for this model: {length / 16:.1f} ms, it needs at least 60.1 ms"
            )


@pytest.mark.parametrize("model", ["diffa-tiny", "qwen2-audio-tiny"])
def test_a_too_short_clip_in_a_batch_fails_alone_and_the_other_clips_decode_as_they_would_alone(model: str) -> None:
    adapter = load_model(ModelSpec(model), "cpu")
    rng = np.random.default_rng(5)
    requests = [
        GenerationRequest(f"r{i}", "Which?", (0.1 * rng.standard_normal(n)).astype(np.float32), ("Yes", "No"))
        for i, n in enumerate((4_000, 960, 961))
    ]
    config = GenerationConfig(max_new_tokens=3)
    batched = adapter.generate(requests, config)
    assert batched[1].error is not None and batched[1].error.startswith("audio clip is too short for this model")
    for index in (0, 2):
        (alone,) = adapter.generate([requests[index]], config)
        assert batched[index].error is None and batched[index].text == alone.text
    adapter.close()
