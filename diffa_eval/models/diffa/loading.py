"""Loading DIFFA without remote code: DIFFA's adapter checkpoint, the Whisper encoder, the LLaDA backbone
(weights renamed onto the native model) and, for DIFFA-2, its LoRA merged into the backbone with PEFT."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...errors import CheckpointError
from .checkpoints import BIN_NAMES, SAFETENSORS_NAMES, iter_tensors, read_json, resolve_directory, weight_files
from .llada import (
    LLADA_LORA_TARGETS,
    LLaDAConfig,
    LLaDAForMaskedDiffusion,
    llada_module_to_native,
    llada_to_native_name,
)
from .modeling import DiffaArchitecture, DiffaAudioEncoder
from .pipeline import DiffaPipeline

LLADA_INSTRUCT = "GSAI-ML/LLaDA-8B-Instruct"
ADAPTER_PREFIXES = ("acoustic_connector.", "semantic_connector.", "trainable_prompts.")
DIFFA_WEIGHT_NAMES = BIN_NAMES + SAFETENSORS_NAMES
_LORA_NAME = re.compile(r"blocks\.(\d+)\.(" + "|".join(LLADA_LORA_TARGETS) + r")\.lora_([AB])(?:\.[\w-]+)?\.weight$")


@dataclass(frozen=True)
class DiffaSources:
    """Where each part comes from: folders or hub ids (`owner/name[/subfolder]`)."""

    checkpoint: str
    whisper: str
    llm: str = LLADA_INSTRUCT
    stage: int = 2
    lora_alpha: float = 16.0
    """DIFFA-2 trains LoRA with r=8, alpha=16; r is read from the tensors, alpha is not stored."""


def stage_adapters(stage: int) -> tuple[str, ...]:
    """The adapter parts a stage uses: stage 1 the semantic adapter and its prompts, stage 2 both adapters."""
    return (
        ("semantic_connector.", "trainable_prompts.") if stage == 1 else ("semantic_connector.", "acoustic_connector.")
    )


def load_whisper_encoder(audio: DiffaAudioEncoder, reference: str) -> Path:
    """Load the encoder half of a Whisper checkpoint (`model.encoder.*` or `encoder.*` tensors)."""
    folder = resolve_directory(reference, "Whisper encoder")
    config = read_json(folder, "config.json", "Whisper encoder")
    expected = audio.architecture.whisper
    for key in ("d_model", "encoder_layers", "encoder_attention_heads", "num_mel_bins"):
        if key in config and config[key] != getattr(expected, key):
            raise CheckpointError(
                f"Whisper encoder {reference!r} has {key}={config[key]}, but the DIFFA checkpoint was trained "
                f"with {key}={getattr(expected, key)}"
            )
    state = {}
    for name, tensor in iter_tensors(weight_files(folder, "Whisper encoder")):
        for prefix in ("model.encoder.", "encoder."):
            if name.startswith(prefix):
                state[name.removeprefix(prefix)] = tensor
    _load_exact(audio.whisper_model, state, f"Whisper encoder {reference!r}")
    return folder


def _load_exact(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys:
        shown = ", ".join(result.missing_keys[:8])
        raise CheckpointError(f"{what} lacks {len(result.missing_keys)} tensor(s): {shown}")


def read_adapter_checkpoint(folder: Path, stage: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """DIFFA's adapter tensors and any LoRA tensors (keyed as in the checkpoint). Whisper and LLaDA base
    tensors in the file are ignored: DIFFA replaces them with the base checkpoints too."""
    files = weight_files(folder, "DIFFA checkpoint", DIFFA_WEIGHT_NAMES)
    adapters: dict[str, torch.Tensor] = {}
    lora: dict[str, torch.Tensor] = {}
    for name, tensor in iter_tensors(files):
        if name.startswith(ADAPTER_PREFIXES):
            adapters[name] = tensor
        elif _LORA_NAME.search(name):
            lora[name] = tensor
    for prefix in stage_adapters(stage):
        if not any(name.startswith(prefix) for name in adapters):
            raise CheckpointError(f"DIFFA checkpoint {files[0]} has no {prefix}* tensors (needed for stage {stage})")
    return adapters, lora


def load_llada(reference: str, dtype: torch.dtype, device: torch.device) -> tuple[LLaDAForMaskedDiffusion, Path]:
    """LLaDA's checkpoint on the native model, without remote code."""
    folder = resolve_directory(reference, "LLaDA backbone")
    config = LLaDAConfig.from_llada_config(read_json(folder, "config.json", "LLaDA backbone"))
    with torch.device("meta"):
        model = LLaDAForMaskedDiffusion(config)
    model.eval()  # type: ignore[no-untyped-call]
    state: dict[str, torch.Tensor] = {}
    for name, tensor in iter_tensors(weight_files(folder, "LLaDA backbone")):
        native = llada_to_native_name(name)
        if native is not None:
            state[native] = tensor.to(dtype)
    if config.tie_word_embeddings and "model.embed_tokens.weight" in state:
        state.setdefault("lm_head.weight", state["model.embed_tokens.weight"])
    expected = set(model.state_dict())
    missing = sorted(expected - set(state))
    if missing:
        raise CheckpointError(f"LLaDA backbone {reference!r} lacks {len(missing)} tensor(s): {', '.join(missing[:8])}")
    model.load_state_dict(state, strict=True, assign=True)
    model.to(device)  # type: ignore[arg-type]
    return model, folder


def merge_lora(
    model: LLaDAForMaskedDiffusion, tensors: dict[str, torch.Tensor], alpha: float
) -> LLaDAForMaskedDiffusion:
    """Merge DIFFA-2's LoRA (tensors named `...blocks.N.<q|k|v|ff|up>_proj.lora_A/B...`) into the weights,
    bit for bit as PEFT's `merge_and_unload` does in DIFFA-2's loader."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    pairs: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for name, tensor in tensors.items():
        match = _LORA_NAME.search(name)
        if match:
            layer, module, half = match.groups()
            pairs.setdefault((int(layer), module), {})[half] = tensor
    incomplete = [f"blocks.{layer}.{module}" for (layer, module), halves in pairs.items() if len(halves) != 2]
    if incomplete:
        raise CheckpointError(f"LoRA tensors come without their A/B partner for {', '.join(sorted(incomplete))}")
    ranks = {halves["A"].shape[0] for halves in pairs.values()}
    if len(ranks) != 1:
        raise CheckpointError(f"LoRA tensors have mixed ranks {sorted(ranks)}")
    rank = ranks.pop()
    targets = sorted({llada_module_to_native(0, module).split(".", 3)[3] for _, module in pairs})
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,  # type: ignore[arg-type]
        target_modules=targets,
        lora_dropout=0.0,
        bias="none",
    )
    # PEFT keeps the adapters of a bfloat16 model in float32 and merges them as DIFFA-2's loader does:
    # B @ A in float32, added to each weight and rounded to the weight's dtype once. The tensors are
    # therefore loaded as saved, never rounded to the backbone's dtype first.
    wrapped = get_peft_model(model, config)
    peft_state = {
        f"base_model.model.{llada_module_to_native(layer, module)}.lora_{half}.weight": tensor
        for (layer, module), halves in pairs.items()
        for half, tensor in halves.items()
    }
    result: Any = set_peft_model_state_dict(wrapped, peft_state)
    if result.unexpected_keys:
        raise CheckpointError(f"LoRA tensors do not fit the backbone: {', '.join(result.unexpected_keys[:8])}")
    merged = wrapped.merge_and_unload()
    if not isinstance(merged, LLaDAForMaskedDiffusion):
        raise CheckpointError(f"merging LoRA returned {type(merged).__name__}, not the backbone")
    return merged


def load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(folder))
    except Exception as error:  # transformers raises several types for an unusable tokenizer folder
        raise CheckpointError(f"no usable tokenizer in {folder} ({type(error).__name__}: {error})") from error


def load_feature_extractor(folder: Path, num_mel_bins: int) -> Any:
    from transformers import WhisperFeatureExtractor

    if (folder / "preprocessor_config.json").is_file():
        return WhisperFeatureExtractor.from_pretrained(str(folder))
    return WhisperFeatureExtractor(feature_size=num_mel_bins)  # type: ignore[no-untyped-call]


def load_pipeline(
    sources: DiffaSources,
    device: torch.device,
    llm_dtype: torch.dtype | None = None,
    audio_dtype: torch.dtype = torch.float32,
) -> DiffaPipeline:
    """Assemble a DIFFA model from its parts. The LLM runs in bfloat16 on GPUs and float32 on CPUs unless
    `llm_dtype` says otherwise; Whisper and the adapters run in `audio_dtype` (DIFFA: float32)."""
    folder = resolve_directory(sources.checkpoint, "DIFFA checkpoint")
    architecture = DiffaArchitecture.from_config(read_json(folder, "config.json", "DIFFA checkpoint"))
    adapters, lora = read_adapter_checkpoint(folder, sources.stage)
    audio = DiffaAudioEncoder(architecture)
    whisper_folder = load_whisper_encoder(audio, sources.whisper)
    result = audio.load_state_dict(adapters, strict=False)
    wanted = [k for k in result.missing_keys if not k.startswith("whisper_model.")]
    missing = [k for k in wanted if k.startswith(stage_adapters(sources.stage))]
    if missing:
        shown = ", ".join(missing[:8])
        raise CheckpointError(f"DIFFA checkpoint {sources.checkpoint!r} lacks adapter tensor(s): {shown}")
    dtype = llm_dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    # DIFFA-2 merges its LoRA into the backbone on the CPU and moves the merged model afterwards, so the
    # float32 products (and each merged weight's rounding) are the CPU's, as in its loader.
    llm, llm_folder = load_llada(sources.llm, dtype, torch.device("cpu") if lora else device)
    if lora:
        llm = merge_lora(llm, lora, sources.lora_alpha)
        llm.to(device)  # type: ignore[arg-type]
    return DiffaPipeline(
        audio=audio.to(device, audio_dtype),
        llm=llm,
        tokenizer=load_tokenizer(llm_folder),
        feature_extractor=load_feature_extractor(whisper_folder, int(architecture.whisper.num_mel_bins)),
        stage=sources.stage,
        device=device,
    )
