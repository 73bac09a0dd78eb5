"""Audio chat models (Qwen2-Audio, Qwen2.5-Omni thinker, Audio Flamingo 3, ...) through transformers.

One adapter serves every preset and `hf@CHECKPOINT` (any audio chat model transformers has a class
for): the model's own processor renders the conversation with its chat template and audio
placeholder, expands the placeholder to the audio's token count and pads the batch on the left;
`generate` decodes greedily unless the temperature is above 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..types import GenerationConfig, ModelOutput, ModelSpec
from .base import GenerationRequest, ModelAdapter, too_short
from .hf_common import (
    check_options,
    generated_lengths,
    load_pretrained,
    placed_device,
    processor_kwargs,
    processor_sampling_rate,
    render_prompt,
    resolve_device,
    sampling_kwargs,
    stop_token_ids,
    transformers_module,
)
from .model_args import REMOTE_CODE_FLAG, refuse_model_args
from .presets import AUDIO_CHAT_PRESETS, TRANSFORMERS, VLLM, AudioChatPreset, audio_chat_preset
from .profile import ModelProfile, OptionSet, hf_checkpoint

TINY_MODEL_ARGS = ("dtype", "attn_implementation")
"""The model args a model built in code with random weights applies."""


class TransformersAudioChat:
    """An audio chat model and its processor, generating a batch at a time with left padding."""

    options: tuple[str, ...] = ()
    """Generation options this backend accepts (none: everything is in GenerationConfig)."""

    def __init__(
        self,
        name: str,
        model: Any,
        processor: Any,
        *,
        device: str,
        prompt_variants: tuple[str, ...] = (),
        system_prompt: str | None = None,
        max_audio_seconds: float | None = None,
        min_audio_samples: int = 0,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.model = model.eval()
        self.processor = processor
        self.device = device
        self.prompt_variants = prompt_variants
        self.max_audio_seconds = max_audio_seconds
        self.min_audio_samples = min_audio_samples  # shorter clips fail as too short (see the presets)
        self.system_prompt = system_prompt
        self.sampling_rate = processor_sampling_rate(processor)
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"  # decoder-only batches must end where generation starts
        self._info = dict(info or {})

    def info(self) -> Mapping[str, Any]:
        return {
            **self._info,
            "backend": TRANSFORMERS,
            "architecture": type(self.model).__name__,
            "processor": type(self.processor).__name__,
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "attention": getattr(self.model.config, "_attn_implementation", None),
            "padding": "left",
            "system_prompt": self.system_prompt,
        }

    def inputs(self, requests: Sequence[GenerationRequest]) -> Any:
        """The batch as model inputs: rendered prompts with expanded audio placeholders, features, masks."""
        texts = [render_prompt(self.processor, request, self.system_prompt) for request in requests]
        audios = [request.audio for request in requests if request.audio is not None]
        if audios and len(audios) != len(requests):
            raise ConfigError("a batch mixes requests with and without audio; run them in separate batches")
        # Padding is the tokenizer's business only: feature extractors keep their own (e.g. 30 s windows).
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "text_kwargs": {"padding": True}}
        if audios:
            kwargs["audio"] = [np.asarray(audio, dtype=np.float32) for audio in audios]
            kwargs["sampling_rate"] = self.sampling_rate
        return self.processor(**kwargs)

    def generate(self, requests: Sequence[GenerationRequest], config: GenerationConfig) -> list[ModelOutput]:
        check_options(config, self.options, TRANSFORMERS)
        short = {
            index: message
            for index, request in enumerate(requests)
            if request.audio is not None
            and (message := too_short(len(request.audio), self.min_audio_samples, self.sampling_rate))
        }
        if short:
            rest = [request for index, request in enumerate(requests) if index not in short]
            outputs = iter(self.generate(rest, config) if rest else [])
            return [ModelOutput.failure(short[i]) if i in short else next(outputs) for i in range(len(requests))]
        start = time.perf_counter()
        batch = self.inputs(requests).to(self.model.device)
        for key, value in batch.items():  # features in the model's dtype; ids and masks stay integers
            if torch.is_floating_point(value):
                batch[key] = value.to(self.model.dtype)
        torch.manual_seed(config.seed)
        with torch.inference_mode():
            sequences = self.model.generate(
                **batch,
                max_new_tokens=config.max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                **sampling_kwargs(config),
            )
        new_tokens = sequences[:, batch["input_ids"].shape[1] :]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        stops = stop_token_ids(self.model.generation_config) or [self.tokenizer.eos_token_id]
        lengths = generated_lengths(new_tokens, stops, self.tokenizer.pad_token_id)
        seconds = (time.perf_counter() - start) / len(requests)
        # One forward pass per generated token: the first comes from the prefill.
        return [ModelOutput(text.strip(), n, n, seconds) for text, n in zip(texts, lengths, strict=True)]

    def close(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


REMOTE_CODE_CLASSES = ("AutoModelForMultimodalLM", "AutoModelForSeq2SeqLM", "AutoModelForCausalLM", "AutoModel")
"""Auto classes through which a checkpoint's own code is loaded, in order of preference (`auto_map` in its config)."""


def checkpoint_class(checkpoint: str, args: Mapping[str, Any]) -> Any:
    """The class to load `checkpoint` with: the transformers class its config names, or, with remote code
    allowed and shipped, the auto class that runs the checkpoint's own code."""
    transformers = transformers_module()
    try:
        config = transformers.AutoConfig.from_pretrained(checkpoint, **processor_kwargs(args))
    except ValueError as error:
        if "trust_remote_code" not in str(error):
            raise
        raise ConfigError(
            f"{checkpoint} needs its own Python code to load; to run it, add --model-args trust_remote_code=true "
            f"{REMOTE_CODE_FLAG}"
        ) from None
    auto_map = getattr(config, "auto_map", None) or {}
    if args.get("trust_remote_code"):
        for name in REMOTE_CODE_CLASSES:
            if name in auto_map:
                return getattr(transformers, name)
    names = list(getattr(config, "architectures", None) or [])
    for name in names:
        native = getattr(transformers, name, None)
        if native is not None:
            return native
    shipped = f" (it ships its own code: --model-args trust_remote_code=true {REMOTE_CODE_FLAG})" if auto_map else ""
    named = ", ".join(names) or "no architecture"
    raise ConfigError(
        f"{checkpoint}: its config names {named}, which transformers {transformers.__version__} does not have{shipped}"
    )


def from_pretrained(
    preset: AudioChatPreset, checkpoint: str, device: str, args: Mapping[str, Any] | None = None
) -> TransformersAudioChat:
    """Load a preset's model class and processor from the hub or a local folder (no remote code unless allowed)."""
    resolved = resolve_device(device)
    model_class = getattr(transformers_module(), preset.architecture)
    model, processor, facts = load_pretrained(checkpoint, model_class, args or {}, resolved)
    return TransformersAudioChat(
        preset.name,
        model,
        processor,
        device=placed_device(model, resolved),
        prompt_variants=preset.prompt_variants,
        system_prompt=preset.system_prompt,
        max_audio_seconds=preset.max_audio_seconds,
        min_audio_samples=preset.min_audio_samples,
        info={**facts, "hub_id": preset.hub_id},
    )


def processor_window(processor: Any) -> float | None:
    """The longest audio (seconds) a processor passes on: its own limit (e.g. Audio Flamingo 3's 600 s),
    else its feature extractor's window (e.g. Whisper's 30 s); None when it names none."""
    limit = getattr(processor, "max_audio_len", None)
    if isinstance(limit, (int, float)):
        return float(limit)
    extractor = getattr(processor, "feature_extractor", None)
    samples, rate = getattr(extractor, "n_samples", None), getattr(extractor, "sampling_rate", None)
    if isinstance(samples, int) and isinstance(rate, int) and rate > 0:
        return samples / rate
    return None


def load_hf(spec: ModelSpec, device: str) -> ModelAdapter:
    """`hf@HUB_ID_OR_FOLDER`: any transformers audio chat model, loaded with the class its config names, its own
    processor and chat template, and the task's default prompts (no system prompt). The audio window comes from
    its processor; the shortest clip it takes from a preset of the same architecture, when there is one."""
    if not spec.checkpoint:
        raise ConfigError("hf needs a checkpoint: hf@OWNER/NAME (hub) or hf@/path/to/folder")
    args = dict(spec.model_args)
    resolved = resolve_device(device)
    model, processor, facts = load_pretrained(spec.checkpoint, checkpoint_class(spec.checkpoint, args), args, resolved)
    architecture = type(model).__name__
    family = next((p for p in AUDIO_CHAT_PRESETS if p.architecture == architecture and not p.tiny), None)
    return TransformersAudioChat(
        "hf",
        model,
        processor,
        device=placed_device(model, resolved),
        max_audio_seconds=processor_window(processor),
        min_audio_samples=family.min_audio_samples if family else 0,
        info=facts,
    )


def profile(spec: ModelSpec) -> ModelProfile:
    """An audio chat preset as planning sees it: no options on transformers, the engine's on vLLM, and its
    checkpoint unless its weights are random."""
    preset = audio_chat_preset(spec.name)
    options = OptionSet()
    if spec.backend == VLLM:
        from .vllm_backend import ENGINE_OPTION_RULES

        options = ENGINE_OPTION_RULES
    if preset.tiny:
        check_tiny(preset, spec)
    sources = () if preset.tiny else (hf_checkpoint(spec, preset.hub_id),)
    return ModelProfile(
        preset.name, "autoregressive", None, preset.prompt_variants, preset.max_audio_seconds, options=options,
        sources=sources,
    )  # fmt: skip


def check_tiny(preset: AudioChatPreset, spec: ModelSpec) -> None:
    """A preset with random weights takes no checkpoint and only the model args a model built in code applies."""
    if spec.checkpoint:
        raise ConfigError(f"{preset.name} is built with random weights; it takes no checkpoint")
    refuse_model_args(
        preset.name, dict(spec.model_args), TINY_MODEL_ARGS, "built in code: no checkpoint to pin or place"
    )


def hf_profile(spec: ModelSpec) -> ModelProfile:
    """`hf@CHECKPOINT` as planning sees it: no generation options, its checkpoint, and the audio window its saved
    processor settings name (as `processor_window` reads it from the loaded processor), so that a plan made
    before loading has the keys of the run."""
    if not spec.checkpoint:
        raise ConfigError("hf needs a checkpoint: hf@OWNER/NAME (hub) or hf@/path/to/folder")
    source = hf_checkpoint(spec, spec.checkpoint)
    window = saved_window(source.reference, source.revision)
    return ModelProfile("hf", "autoregressive", None, max_audio_seconds=window, sources=(source,))


def saved_window(checkpoint: str, revision: str | None = None) -> float | None:
    """The audio window (seconds) of a checkpoint's saved processor settings, read from its folder or the hub
    cache without loading anything: `max_audio_len`, else the feature extractor's samples over its rate."""
    from .sources import checkpoint_folder

    folder = checkpoint_folder(checkpoint, revision)
    if folder is None:
        return None
    settings: dict[str, Any] = {}
    for name in ("preprocessor_config.json", "processor_config.json"):
        try:
            loaded = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(loaded, dict):  # a processor saves its feature extractor's settings inside, or beside, its own
            extractor = loaded.get("feature_extractor")
            settings.update({**loaded, **(extractor if isinstance(extractor, dict) else {})})
    limit = settings.get("max_audio_len")
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        return float(limit)
    samples, rate = settings.get("n_samples"), settings.get("sampling_rate")
    if isinstance(samples, int) and isinstance(rate, int) and rate > 0:
        return samples / rate
    return None


def load_audio_chat(spec: ModelSpec, device: str) -> ModelAdapter:
    """The registry factory of the audio chat presets with weights: transformers by default, vLLM on request
    (those with random weights are built by `tiny.load_tiny_audio_chat`)."""
    preset = audio_chat_preset(spec.name)
    args = dict(spec.model_args)
    if spec.backend == VLLM:
        from .vllm_backend import VLLMAudioChat

        return VLLMAudioChat(preset, spec.checkpoint or preset.hub_id, device)
    return from_pretrained(preset, spec.checkpoint or preset.hub_id, device, args)
