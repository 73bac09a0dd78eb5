"""Masked-diffusion decoding (LLaDA's sampler and DIFFA-2's factor-based parallel decoding)."""

from __future__ import annotations

from .masked_diffusion import (
    EOS_ID,
    EOT_ID,
    MASK_ID,
    Denoiser,
    DiffusionSettings,
    SamplerResult,
    TokenDenoiser,
    generate,
    sample,
    transfer_schedule,
)

__all__ = [
    "EOS_ID",
    "EOT_ID",
    "MASK_ID",
    "Denoiser",
    "DiffusionSettings",
    "SamplerResult",
    "TokenDenoiser",
    "generate",
    "sample",
    "transfer_schedule",
]
