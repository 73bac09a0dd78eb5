"""Masked-diffusion decoding: LLaDA's sampler, DIFFA-2's factor rule, threshold commits and key/value caching."""

from __future__ import annotations

from .commits import transfer_schedule
from .denoisers import CachingDenoiser, ContextDenoiser, Denoiser, TokenDenoiser
from .masked_diffusion import SamplerResult, generate, sample
from .settings import CACHES, DECODING, EOS_ID, EOT_ID, MASK_ID, DiffusionSettings, mode_name, parse_mode

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
