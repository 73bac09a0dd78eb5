"""Tiny random-weight instances of the audio chat architectures, built offline.

Each builder makes the real transformers model class from a tiny config of its own config
class, and the real processor class from its default feature extractor and a small byte-level
tokenizer that carries the special and audio placeholder tokens the processor expects. The
chat templates are minimal copies of each family's format. Nothing is downloaded, so these
check the whole pipeline (prompting, padding, generation, decoding, scoring) on a CPU; their
outputs are noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ..errors import ConfigError
from ..types import ModelSpec
from .audio_chat import TransformersAudioChat, check_tiny
from .hf_common import resolve_device, transformers_module
from .presets import AudioChatPreset, audio_chat_preset
from .whisper import WhisperASR

SEED = 0
INIT_RANGE = 0.5
"""Wide random initialisation, so that different inputs lead to different (noise) outputs."""

CHATML_AUDIO_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'audio' %}@AUDIO@{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""ChatML, the format of the Qwen family and Audio Flamingo 3; @AUDIO@ stands for the audio placeholder."""


def byte_level_tokenizer(special_tokens: Sequence[str] | Mapping[str, int], **named_tokens: str) -> Any:
    """A byte-level BPE tokenizer without merges (256 byte tokens) plus `special_tokens`; given as a
    mapping, the special tokens get those ids (e.g. a real model's), else ids after the bytes.

    `named_tokens` set the tokenizer's token attributes (eos_token, pad_token, audio_token, ...).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {symbol: index for index, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    if isinstance(special_tokens, Mapping):
        vocab.update(special_tokens)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(special_tokens))
    return transformers_module().PreTrainedTokenizerFast(tokenizer_object=backend, **named_tokens)


def _text_config(vocab_size: int, model_type: str = "qwen2", **extra: Any) -> dict[str, Any]:
    return {
        "model_type": model_type,
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "initializer_range": INIT_RANGE,
        **extra,
    }


def _whisper_like_encoder(**extra: Any) -> dict[str, Any]:
    return {
        "num_mel_bins": 128,
        "max_source_positions": 1500,
        "initializer_range": INIT_RANGE,
        **extra,
    }


def _qwen2_audio() -> tuple[Any, Any]:
    hf = transformers_module()

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"]
    tokenizer = byte_level_tokenizer(specials, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    # No chat template given: the processor's own default is Qwen2-Audio's format.
    processor = hf.Qwen2AudioProcessor(hf.WhisperFeatureExtractor(feature_size=128), tokenizer)
    audio = _whisper_like_encoder(d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32)
    config = hf.Qwen2AudioConfig(
        audio_config=audio,
        text_config=_text_config(len(tokenizer)),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    return hf.Qwen2AudioForConditionalGeneration(config), processor


def _qwen2_5_omni_thinker() -> tuple[Any, Any]:
    hf = transformers_module()

    named = {
        "audio_token": "<|AUDIO|>",
        "audio_bos_token": "<|audio_bos|>",
        "audio_eos_token": "<|audio_eos|>",
        "image_token": "<|IMAGE|>",
        "video_token": "<|VIDEO|>",
        "vision_bos_token": "<|vision_bos|>",
        "vision_eos_token": "<|vision_eos|>",
    }
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *named.values()]
    tokenizer = byte_level_tokenizer(specials, eos_token="<|im_end|>", pad_token="<|endoftext|>", **named)
    template = CHATML_AUDIO_TEMPLATE.replace("@AUDIO@", "<|audio_bos|><|AUDIO|><|audio_eos|>")

    def accept_missing_vision(processor: Any, argument_name: str, argument: Any) -> Any:
        if argument is None and argument_name in ("image_processor", "video_processor"):
            return None
        return hf.Qwen2_5OmniProcessor.check_argument_for_proper_class(processor, argument_name, argument)

    # Audio-only requests never reach the image and video processors, which need Pillow and torchvision.
    audio_only = {"check_argument_for_proper_class": accept_missing_vision}
    AudioOnlyOmniProcessor = type("AudioOnlyOmniProcessor", (hf.Qwen2_5OmniProcessor,), audio_only)
    processor = AudioOnlyOmniProcessor(
        feature_extractor=hf.WhisperFeatureExtractor(feature_size=128), tokenizer=tokenizer, chat_template=template
    )
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in named.items()}
    audio = _whisper_like_encoder(
        d_model=16, encoder_layers=1, encoder_attention_heads=2, encoder_ffn_dim=32, output_dim=32, n_window=100
    )
    vision = {"depth": 1, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2, "out_hidden_size": 32}
    config = hf.Qwen2_5OmniThinkerConfig(
        audio_config=audio,
        vision_config=vision,
        text_config=_text_config(len(tokenizer), rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1]}),
        audio_token_index=ids["audio_token"],
        image_token_index=ids["image_token"],
        video_token_index=ids["video_token"],
        audio_start_token_id=ids["audio_bos_token"],
        audio_end_token_id=ids["audio_eos_token"],
        vision_start_token_id=ids["vision_bos_token"],
        vision_end_token_id=ids["vision_eos_token"],
        initializer_range=INIT_RANGE,
    )
    return hf.Qwen2_5OmniThinkerForConditionalGeneration(config), processor


def _audio_flamingo_3() -> tuple[Any, Any]:
    hf = transformers_module()

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<sound>"]
    tokenizer = byte_level_tokenizer(specials, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    template = CHATML_AUDIO_TEMPLATE.replace("@AUDIO@", "<sound>")
    extractor = hf.WhisperFeatureExtractor(feature_size=128)
    processor = hf.AudioFlamingo3Processor(extractor, tokenizer, chat_template=template)
    audio = _whisper_like_encoder(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    config = hf.AudioFlamingo3Config(
        audio_config=audio,
        text_config=_text_config(len(tokenizer)),
        audio_token_id=tokenizer.convert_tokens_to_ids("<sound>"),
    )
    return hf.AudioFlamingo3ForConditionalGeneration(config), processor


TINY_BUILDERS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "Qwen2AudioForConditionalGeneration": _qwen2_audio,
    "Qwen2_5OmniThinkerForConditionalGeneration": _qwen2_5_omni_thinker,
    "AudioFlamingo3ForConditionalGeneration": _audio_flamingo_3,
}
"""Architecture (transformers class name) -> builder of a tiny random model and its offline processor."""


def tiny_audio_chat(
    preset: AudioChatPreset, device: str = "cpu", args: Mapping[str, Any] | None = None
) -> TransformersAudioChat:
    """`preset`'s architecture with tiny random weights (seeded) and an offline processor, in float32 unless the
    model args (`dtype`, `attn_implementation`) say otherwise."""
    builder = TINY_BUILDERS.get(preset.architecture)
    if builder is None:
        raise ConfigError(f"no tiny random build of {preset.architecture}")
    args = dict(args or {})
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model, processor = builder()
    if "attn_implementation" in args:
        model.set_attn_implementation(args["attn_implementation"])
    dtype = args.get("dtype", "auto")
    resolved = resolve_device(device)
    info: dict[str, Any] = {"weights": f"random (tiny config, seed {SEED})", "architecture_of": preset.hub_id}
    if args:
        info["model_args"] = args
    return TransformersAudioChat(
        preset.name,
        model.to(resolved, dtype=torch.float32 if dtype == "auto" else getattr(torch, dtype)),
        processor,
        device=resolved,
        prompt_variants=preset.prompt_variants,
        system_prompt=preset.system_prompt,
        max_audio_seconds=preset.max_audio_seconds,
        min_audio_samples=preset.min_audio_samples,
        info=info,
    )


def load_tiny_audio_chat(spec: ModelSpec, device: str) -> TransformersAudioChat:
    """The registry factory of the audio chat presets built with random weights (no checkpoint)."""
    preset = audio_chat_preset(spec.name)
    check_tiny(preset, spec)
    return tiny_audio_chat(preset, device, dict(spec.model_args))


def tiny_whisper(name: str = "whisper-tiny-random", device: str = "cpu") -> WhisperASR:
    """An English-only Whisper with tiny random weights (seeded) and an offline processor, in float32."""
    hf = transformers_module()
    specials = ["<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>"]
    tokenizer = byte_level_tokenizer(specials, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    processor = hf.WhisperProcessor(hf.WhisperFeatureExtractor(feature_size=80), tokenizer)
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in specials}
    config = hf.WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_target_positions=448,
        init_std=INIT_RANGE,
        decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"],
    )
    with torch.random.fork_rng():
        torch.manual_seed(SEED)
        model = hf.WhisperForConditionalGeneration(config)
    generation = model.generation_config
    generation.is_multilingual = False
    generation.no_timestamps_token_id = ids["<|notimestamps|>"]
    generation.forced_decoder_ids = None
    generation.suppress_tokens = []
    generation.begin_suppress_tokens = []
    resolved = resolve_device(device)
    info = {"weights": f"random (tiny config, seed {SEED})"}
    return WhisperASR(name, model.to(resolved, dtype=torch.float32), processor, device=resolved, info=info)
