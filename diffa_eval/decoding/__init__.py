"""Masked-diffusion decoding: LLaDA's sampler, DIFFA-2's factor rule, threshold commits and key/value caching."""

from __future__ import annotations

from .masked_diffusion import (
    CACHES,
    DECODING,
    EOS_ID,
    EOT_ID,
    MASK_ID,
    CachingDenoiser,
    ContextDenoiser,
    Denoiser,
    DiffusionSettings,
    SamplerResult,
    TokenDenoiser,
    generate,
    mode_name,
    parse_mode,
    sample,
    transfer_schedule,
)

__all__ = [
    "CACHES",
    "DECODING",
    "EOS_ID",
    "EOT_ID",
    "MASK_ID",
    "CachingDenoiser",
    "ContextDenoiser",
    "Denoiser",
    "DiffusionSettings",
    "SamplerResult",
    "TokenDenoiser",
    "generate",
    "mode_name",
    "parse_mode",
    "sample",
    "transfer_schedule",
]
