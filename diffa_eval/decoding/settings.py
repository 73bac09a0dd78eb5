"""Decoding settings: LLaDA's special tokens, the commit rules and caches, mode names and `DiffusionSettings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

MASK_ID = 126336
"""LLaDA's `<|mdm_mask|>` token."""
EOS_ID = 126081
"""LLaDA's `<|endoftext|>`, which also pads answers."""
EOT_ID = 126348
"""LLaDA's `<|eot_id|>`."""

REMASKING = ("low_confidence", "random")
DECODING = ("exact", "threshold", "factor")
"""Commit rules: how many tokens each pass commits."""
CACHES = ("none", "prefix", "dual")
"""Key/value caching around the current block."""


def parse_mode(mode: str) -> tuple[str, str]:
    """The commit rule and the cache a mode name asks for: "threshold+dual-cache" -> ("threshold", "dual");
    a cache alone keeps exact's schedule ("prefix-cache" -> ("exact", "prefix"))."""
    rule, cache = "exact", "none"
    parts = [part.strip() for part in mode.split("+") if part.strip()]
    if not parts or len(parts) > 2:
        raise ConfigError(f"decoding mode must be RULE, CACHE-cache or RULE+CACHE-cache; got {mode!r}")
    for part in parts:
        if part.endswith("-cache") and part.removesuffix("-cache") in CACHES[1:] and cache == "none":
            cache = part.removesuffix("-cache")
        elif part in DECODING and (len(parts) == 1 or part != parts[-1]):
            rule = part
        else:
            raise ConfigError(
                f"unknown decoding mode {mode!r}; rules: {', '.join(DECODING)}; caches: prefix-cache, dual-cache"
            )
    return rule, cache


def mode_name(rule: str, cache: str) -> str:
    """The canonical name of a rule and a cache (the inverse of `parse_mode`)."""
    if cache == "none":
        return rule
    return f"{cache}-cache" if rule == "exact" else f"{rule}+{cache}-cache"


@dataclass(frozen=True)
class DiffusionSettings:
    """How to decode. `steps` and `block_length` default to `gen_length`, as every DIFFA script sets them.

    `logits_eos_inf` and `confidence_eos_eot_inf` are LLaDA's optional EOS/EoT suppression flags
    (off in DIFFA); `confidence_eos_eot_inf` keeps the reference's behaviour, which zeroes the EOS
    confidence only at temperature 0.

    `decoding` is the commit rule; `cache`, `threshold` (threshold rule), `eos_stop` (None: on for
    every rule but exact) and `cache_refresh` (0: once per block) shape the fast modes; see the
    module docstring. `from_mode` reads a mode name such as "threshold+prefix-cache".
    """

    gen_length: int
    steps: int | None = None
    block_length: int | None = None
    temperature: float = 0.0
    cfg_scale: float = 0.0
    remasking: str = "low_confidence"
    decoding: str = "exact"
    factor: float = 1.0
    mask_id: int = MASK_ID
    eos_id: int = EOS_ID
    eot_id: int = EOT_ID
    logits_eos_inf: bool = False
    confidence_eos_eot_inf: bool = False
    cache: str = "none"
    threshold: float = 0.9
    eos_stop: bool | None = None
    cache_refresh: int = 0

    @classmethod
    def from_mode(cls, mode: str, **settings: Any) -> DiffusionSettings:
        """Settings for a mode name ("exact", "threshold+prefix-cache", ...) and the other fields."""
        rule, cache = parse_mode(mode)
        return cls(decoding=rule, cache=cache, **settings)

    def __post_init__(self) -> None:
        if self.gen_length < 1:
            raise ConfigError(f"gen_length must be >= 1, got {self.gen_length}")
        if self.block_size < 1 or self.gen_length % self.block_size:
            raise ConfigError(f"gen_length ({self.gen_length}) must be a multiple of block_length ({self.block_size})")
        if self.total_steps < 1 or self.total_steps % self.num_blocks:
            raise ConfigError(
                f"steps ({self.total_steps}) must be a positive multiple of the number of blocks ({self.num_blocks})"
            )
        if self.remasking not in REMASKING:
            raise ConfigError(f"remasking must be one of {', '.join(REMASKING)}; got {self.remasking!r}")
        if self.decoding not in DECODING:
            raise ConfigError(f"decoding must be one of {', '.join(DECODING)}; got {self.decoding!r}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")
        if self.cfg_scale < 0:
            raise ConfigError(f"cfg_scale must be >= 0, got {self.cfg_scale}")
        if self.decoding == "factor" and self.cfg_scale > 0:
            raise ConfigError("factor decoding has no classifier-free guidance (as in DIFFA-2); use decoding=exact")
        if self.factor <= 0:
            raise ConfigError(f"factor must be > 0, got {self.factor}")
        if self.cache not in CACHES:
            raise ConfigError(f"cache must be one of {', '.join(CACHES)}; got {self.cache!r}")
        if self.cache != "none" and self.cfg_scale > 0:
            raise ConfigError("cached decoding has no classifier-free guidance; use a mode without a cache")
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.cache_refresh < 0:
            raise ConfigError(f"cache_refresh must be >= 0, got {self.cache_refresh}")

    @property
    def mode(self) -> str:
        return mode_name(self.decoding, self.cache)

    @property
    def stops_at_eos(self) -> bool:
        return self.eos_stop if self.eos_stop is not None else self.decoding != "exact"

    @property
    def block_size(self) -> int:
        return self.block_length if self.block_length is not None else self.gen_length

    @property
    def total_steps(self) -> int:
        return self.steps if self.steps is not None else self.gen_length

    @property
    def num_blocks(self) -> int:
        return self.gen_length // self.block_size

    @property
    def steps_per_block(self) -> int:
        return self.total_steps // self.num_blocks

    def to_dict(self) -> dict[str, Any]:
        """The settings that shape the output, for records and manifests."""
        settings: dict[str, Any] = {
            "decoding": self.decoding,
            "gen_length": self.gen_length,
            "steps": self.total_steps,
            "block_length": self.block_size,
            "temperature": self.temperature,
            "remasking": self.remasking,
        }
        if self.decoding == "factor":
            settings["factor"] = self.factor
        else:
            settings["cfg_scale"] = self.cfg_scale
        if self.decoding == "threshold":
            settings["threshold"] = self.threshold
        if self.cache != "none":
            settings.update(mode=self.mode, cache=self.cache, cache_refresh=self.cache_refresh)
        if self.stops_at_eos != (self.decoding == "factor"):
            settings["eos_stop"] = self.stops_at_eos
        return settings

