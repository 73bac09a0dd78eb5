"""A tiny DIFFA with random weights, built in code: for demos and tests, never for numbers.

It has DIFFA's full architecture at toy sizes (a 4-layer Whisper encoder read like whisper-tiny,
the 2-layer BERT Q-Former, the semantic projector, a 2-layer LLaDA-shaped backbone with LLaDA's
vocabulary size) and a byte-level tokenizer that carries LLaDA's special tokens at LLaDA's ids.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import WhisperConfig, WhisperFeatureExtractor

from ...decoding import EOS_ID, EOT_ID, MASK_ID
from ..tiny import byte_level_tokenizer
from .llada import LLaDAConfig, LLaDAForMaskedDiffusion
from .modeling import ACOUSTIC_LAYERS, DiffaArchitecture, DiffaAudioEncoder
from .pipeline import DiffaPipeline

LLADA_SPECIAL_TOKENS = {
    "<|startoftext|>": 126080,
    "<|endoftext|>": EOS_ID,
    "<|mdm_mask|>": MASK_ID,
    "<|start_header_id|>": 126346,
    "<|end_header_id|>": 126347,
    "<|eot_id|>": EOT_ID,
}
LLADA_VOCAB_SIZE = 126464


def tiny_whisper_config() -> WhisperConfig:
    return WhisperConfig(
        d_model=16,
        encoder_layers=4,
        encoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        num_mel_bins=80,
        max_source_positions=1500,
    )


def tiny_llada_config() -> dict[str, Any]:
    """A LLaDA `config.json` (LLaDA's own keys) for a 2-layer backbone."""
    return {
        "architectures": ["LLaDAModelLM"],
        "d_model": 32,
        "n_heads": 4,
        "n_kv_heads": 4,
        "n_layers": 2,
        "mlp_hidden_size": 64,
        "mlp_ratio": 4,
        "block_type": "llama",
        "layer_norm_type": "rms",
        "activation_type": "silu",
        "rope": True,
        "rope_theta": 500000.0,
        "rms_norm_eps": 1e-5,
        "include_bias": False,
        "include_qkv_bias": False,
        "weight_tying": False,
        "vocab_size": LLADA_VOCAB_SIZE,
        "embedding_size": LLADA_VOCAB_SIZE,
        "max_sequence_length": 4096,
        "eos_token_id": EOS_ID,
        "pad_token_id": EOS_ID,
        "mask_token_id": MASK_ID,
    }


def tiny_diffa_config() -> dict[str, Any]:
    """A DIFFA `config.json` for the tiny architecture."""
    return {
        "architectures": ["DIFFAModel"],
        "whisper_model_id": "openai/whisper-tiny",
        "prompt_size": 64,
        "whisper_config": tiny_whisper_config().to_dict(),
        "llm_config": tiny_llada_config(),
    }


def tiny_tokenizer() -> Any:
    """A byte-level tokenizer (bytes are ids 0-255) with LLaDA's special tokens at LLaDA's ids."""
    return byte_level_tokenizer(
        LLADA_SPECIAL_TOKENS,
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        mask_token="<|mdm_mask|>",
    )


def random_tiny_parts(seed: int = 0) -> tuple[DiffaAudioEncoder, LLaDAForMaskedDiffusion]:
    """The tiny audio encoder (with adapters) and backbone, randomly initialised from `seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        architecture = DiffaArchitecture(
            whisper=tiny_whisper_config(),
            llm_hidden_size=32,
            acoustic_layers=ACOUSTIC_LAYERS["openai/whisper-tiny"],
        )
        audio = DiffaAudioEncoder(architecture)
        llm = LLaDAForMaskedDiffusion(LLaDAConfig.from_llada_config(tiny_llada_config()))
        for parameter in (*audio.parameters(), *llm.parameters()):
            if parameter.dim() > 1:
                torch.nn.init.normal_(parameter, std=0.2)
    llm.eval()  # type: ignore[no-untyped-call]
    return audio.eval(), llm


def tiny_pipeline(
    device: torch.device, seed: int = 0, stage: int = 2, llm_dtype: torch.dtype | None = None
) -> DiffaPipeline:
    """The tiny random DIFFA on `device`, its LLM in `llm_dtype` (default float32)."""
    audio, llm = random_tiny_parts(seed)
    return DiffaPipeline(
        audio=audio.to(device),
        llm=llm.to(device, llm_dtype or torch.float32),  # type: ignore[arg-type]
        tokenizer=tiny_tokenizer(),
        feature_extractor=WhisperFeatureExtractor(feature_size=80),  # type: ignore[no-untyped-call]
        stage=stage,
        device=device,
    )
