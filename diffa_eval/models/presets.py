"""The autoregressive baselines: audio chat models and Whisper, as named presets over hub checkpoints.

This module is plain data (no torch import), so listing models stays instant. The adapters
that load these presets are in `audio_chat`, `whisper` and `vllm_backend`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError

TRANSFORMERS = "transformers"
VLLM = "vllm"
BACKENDS = (TRANSFORMERS, VLLM)
"""The inference backends a model may run on; a model's first backend is its default."""

QWEN2_AUDIO_MIN_SAMPLES = 961
"""Qwen2-Audio's processor pads features to 30 s and counts the audio tokens from the real mel frames
(one per 160 samples, rounded up): under 7 frames (961 samples, 60 ms) a clip gets a single token, and
transformers' Qwen2-Audio then takes the prompt for its legacy, unexpanded format and fails."""

QWEN2_5_OMNI_SYSTEM_PROMPT = (
    "You are Qwen, a virtual human developed by the Qwen Team, Alibaba Group, capable of perceiving auditory and "
    "visual inputs, as well as generating text and speech."
)
"""The system prompt the Qwen2.5-Omni model card requires (the thinker is trained with it)."""


@dataclass(frozen=True)
class AudioChatPreset:
    """An audio-in, text-out chat model loaded through transformers' native classes.

    `architecture` names the transformers model class (text output only; for omni models the
    thinker). `prompt_variants` are the task prompt variants the model's authors evaluated
    with, best first. `tiny` marks a preset built with random weights from a tiny config
    (see `tiny.py`): a pipeline check that needs no download, not a baseline.
    """

    name: str
    hub_id: str
    architecture: str
    description: str
    prompt_variants: tuple[str, ...] = ()
    system_prompt: str | None = None
    backends: tuple[str, ...] = (TRANSFORMERS, VLLM)
    tiny: bool = False
    max_audio_seconds: float | None = None
    """The longest audio the model hears; the runner cuts or skips longer clips and records it."""
    min_audio_samples: int = 0
    """The shortest clip (samples at the model's rate) the transformers model takes; shorter ones fail as too short."""


@dataclass(frozen=True)
class WhisperPreset:
    """An OpenAI Whisper checkpoint: speech recognition only (the prompt is not used)."""

    name: str
    hub_id: str
    description: str
    backends: tuple[str, ...] = (TRANSFORMERS,)


AUDIO_CHAT_PRESETS: tuple[AudioChatPreset, ...] = (
    AudioChatPreset(
        "qwen2-audio-instruct",
        "Qwen/Qwen2-Audio-7B-Instruct",
        "Qwen2AudioForConditionalGeneration",
        "Qwen2-Audio-7B-Instruct (Qwen/Qwen2-Audio-7B-Instruct): Whisper encoder + Qwen-7B, chat model.",
        prompt_variants=("qwen2-audio",),
        max_audio_seconds=30.0,  # its Whisper feature extractor keeps the first 30 s
        min_audio_samples=QWEN2_AUDIO_MIN_SAMPLES,
    ),
    AudioChatPreset(
        "qwen2.5-omni-7b",
        "Qwen/Qwen2.5-Omni-7B",
        "Qwen2_5OmniThinkerForConditionalGeneration",
        "Qwen2.5-Omni-7B thinker (Qwen/Qwen2.5-Omni-7B), text output only, with its required system prompt.",
        prompt_variants=("qwen2.5-omni",),
        max_audio_seconds=300.0,  # its feature extractor pads or cuts audio to 300 s (n_samples 4,800,000)
        system_prompt=QWEN2_5_OMNI_SYSTEM_PROMPT,
    ),
    AudioChatPreset(
        "qwen2.5-omni-3b",
        "Qwen/Qwen2.5-Omni-3B",
        "Qwen2_5OmniThinkerForConditionalGeneration",
        "Qwen2.5-Omni-3B thinker (Qwen/Qwen2.5-Omni-3B), text output only, with its required system prompt.",
        prompt_variants=("qwen2.5-omni",),
        max_audio_seconds=300.0,  # its feature extractor pads or cuts audio to 300 s (n_samples 4,800,000)
        system_prompt=QWEN2_5_OMNI_SYSTEM_PROMPT,
    ),
    AudioChatPreset(
        "audio-flamingo-3",
        "nvidia/audio-flamingo-3-hf",
        "AudioFlamingo3ForConditionalGeneration",
        "Audio Flamingo 3 (nvidia/audio-flamingo-3-hf): AF-Whisper encoder + Qwen2.5-7B; non-commercial license.",
        max_audio_seconds=600.0,  # its processor keeps the first 10 minutes
    ),
    AudioChatPreset(
        "qwen2-audio-tiny",
        "Qwen/Qwen2-Audio-7B-Instruct",
        "Qwen2AudioForConditionalGeneration",
        "Qwen2-Audio architecture with tiny RANDOM weights and an offline tokenizer: outputs are noise; "
        "an offline pipeline check, not a baseline.",
        prompt_variants=("qwen2-audio",),
        max_audio_seconds=30.0,  # its Whisper feature extractor keeps the first 30 s
        min_audio_samples=QWEN2_AUDIO_MIN_SAMPLES,
        backends=(TRANSFORMERS,),
        tiny=True,
    ),
)

WHISPER_PRESETS: tuple[WhisperPreset, ...] = tuple(
    WhisperPreset(f"whisper-{size}", f"openai/whisper-{size}", f"OpenAI Whisper {size} (openai/whisper-{size}): {what}")
    for size, what in (
        ("large-v3", "the ASR reference for LibriSpeech; speech recognition only."),
        ("large-v3-turbo", "4 decoder layers, ~8x faster decoding than large-v3; speech recognition only."),
        ("medium", "speech recognition only."),
        ("small", "speech recognition only."),
        ("base", "speech recognition only."),
        ("tiny", "speech recognition only."),
    )
)


def audio_chat_preset(name: str) -> AudioChatPreset:
    """The audio chat preset registered under `name`."""
    for preset in AUDIO_CHAT_PRESETS:
        if preset.name == name:
            return preset
    raise ConfigError(f"{name!r} is not an audio chat preset")


def whisper_preset(name: str) -> WhisperPreset:
    """The Whisper preset registered under `name`."""
    for preset in WHISPER_PRESETS:
        if preset.name == name:
            return preset
    raise ConfigError(f"{name!r} is not a Whisper preset")
