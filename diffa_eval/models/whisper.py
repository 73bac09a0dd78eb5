"""OpenAI Whisper through transformers: the speech recognition reference (the prompt is not used).

Batches are padded to Whisper's 30 s window. When a batch holds audio longer than 30 s, the
whole batch is decoded long-form: features are kept unpadded beyond 30 s and transformers
decodes window after window with timestamps (sequential long-form decoding, as in the
Whisper paper), so nothing is cut off.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..types import GenerationConfig, ModelOutput, ModelSpec
from .base import GenerationRequest, ModelAdapter
from .hf_common import (
    check_options,
    load_pretrained,
    placed_device,
    resolve_device,
    sampling_kwargs,
    transformers_module,
)
from .presets import TRANSFORMERS, whisper_preset
from .profile import ModelProfile, OptionSet, hf_checkpoint, text

WINDOW_FRAMES = 3000
"""Mel frames in Whisper's 30 s input window."""
OPTIONS = OptionSet((text("language", "a language code such as en"),))


class WhisperASR:
    """A Whisper model and processor transcribing a batch at a time.

    Generation options: `language` (e.g. "en"; default: Whisper detects it per sample).
    """

    options: tuple[str, ...] = OPTIONS.names
    prompt_variants: tuple[str, ...] = ()
    max_audio_seconds: float | None = None  # longer audio is transcribed window by window

    def __init__(self, name: str, model: Any, processor: Any, *, device: str, info: Mapping[str, Any]) -> None:
        self.name = name
        self.model = model.eval()
        self.processor = processor
        self.device = device
        self.sampling_rate = int(processor.feature_extractor.sampling_rate)
        self._info = dict(info)

    def info(self) -> Mapping[str, Any]:
        return {
            **self._info,
            "backend": TRANSFORMERS,
            "architecture": type(self.model).__name__,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "task": "transcribe",
            "long_form": "audio over 30 s: sequential decoding over 30 s windows with timestamps",
        }

    def features(self, audios: Sequence[np.ndarray]) -> tuple[Any, bool]:
        """Log-mel features of the batch and whether it needs long-form decoding (any audio over 30 s).

        Up to 30 s, every clip is padded to the 30 s window as Whisper's feature extractor does, however
        short (a clip of a few samples included); the window test counts frames from the lengths, since
        extracting unpadded features of a clip shorter than the STFT's padding fails."""
        extractor = self.processor.feature_extractor
        if max(len(audio) for audio in audios) // extractor.hop_length <= WINDOW_FRAMES:
            return extractor(list(audios), sampling_rate=self.sampling_rate, return_tensors="pt"), False
        unpadded = extractor(
            list(audios),
            sampling_rate=self.sampling_rate,
            return_tensors="pt",
            truncation=False,
            padding="longest",
            return_attention_mask=True,
        )
        return unpadded, True

    def generate(self, requests: Sequence[GenerationRequest], config: GenerationConfig) -> list[ModelOutput]:
        check_options(config, self.options, "whisper")
        missing = [request.sample_id for request in requests if request.audio is None]
        if missing:
            raise ConfigError(f"Whisper needs audio; samples without audio: {', '.join(missing)}")
        start = time.perf_counter()
        inputs, long_form = self.features([np.asarray(r.audio, dtype=np.float32) for r in requests])
        inputs = inputs.to(self.model.device)
        inputs["input_features"] = inputs["input_features"].to(self.model.dtype)
        language = config.options.get("language")
        torch.manual_seed(config.seed)
        with torch.inference_mode():
            tokens = self.model.generate(
                **inputs,
                task="transcribe" if self.model.generation_config.is_multilingual else None,
                language=language,
                max_new_tokens=config.max_new_tokens,
                return_timestamps=long_form,
                **sampling_kwargs(config),
            )
        if not isinstance(tokens, torch.Tensor):  # long-form decoding may return a dict
            tokens = tokens["sequences"]
        texts = self.processor.batch_decode(tokens, skip_special_tokens=True)
        seconds = (time.perf_counter() - start) / len(requests)
        counts = self._content_lengths(tokens)
        return [ModelOutput(text.strip(), n, n, seconds) for text, n in zip(texts, counts, strict=True)]

    def _content_lengths(self, tokens: torch.Tensor) -> list[int]:
        """Text tokens per row: without the prompt, timestamp, end-of-text and padding tokens."""
        special = set(self.processor.tokenizer.all_special_ids)
        # Timestamp tokens come right after <|notimestamps|> in Whisper's vocabulary.
        last_text = getattr(self.model.generation_config, "no_timestamps_token_id", None)
        return [
            sum(1 for t in row.tolist() if t not in special and (last_text is None or t < last_text)) for row in tokens
        ]

    def close(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def profile(spec: ModelSpec) -> ModelProfile:
    """A Whisper preset as planning sees it: speech recognition, the `language` option, its checkpoint."""
    preset = whisper_preset(spec.name)
    return ModelProfile(preset.name, "ASR", None, options=OPTIONS, sources=(hf_checkpoint(spec, preset.hub_id),))


def load_whisper(spec: ModelSpec, device: str) -> ModelAdapter:
    """The registry factory of the Whisper presets (transformers only)."""
    preset = whisper_preset(spec.name)
    if spec.backend not in (None, TRANSFORMERS):
        raise ConfigError(f"{preset.name} runs on transformers only")
    resolved = resolve_device(device)
    model_class = transformers_module().WhisperForConditionalGeneration
    checkpoint = spec.checkpoint or preset.hub_id
    model, processor, facts = load_pretrained(checkpoint, model_class, dict(spec.model_args), resolved)
    info = {**facts, "hub_id": preset.hub_id}
    return WhisperASR(preset.name, model, processor, device=placed_device(model, resolved), info=info)
