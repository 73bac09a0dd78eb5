"""LLaDA's semi-autoregressive masked-diffusion sampler, and DIFFA-2's factor-based parallel decoding.

The answer is a canvas of `gen_length` mask tokens after the prompt. It is decoded in blocks of
`block_length`, left to right. In `exact` mode every block gets `steps / num_blocks` forward
passes, and each pass commits a fixed number of tokens (the transfer schedule) chosen by
confidence (`low_confidence`: the probability of the predicted token; `random`: a uniform draw);
positions after the current block never compete. Temperature is applied with Gumbel noise in
float64; classifier-free guidance runs a copy whose prompt tokens are masked. This is LLaDA's
reference algorithm, token for token.

In `factor` mode (DIFFA-2's "FPD"), each pass commits the n-th most confident masked token of the
current block while its confidence is >= 1 - factor / (n + 1), at least one per pass, and a block
ends when it has no masks left. Decoding stops early once the current block holds an EOS with no
mask before it (the rest of that block becomes EOS, later blocks stay masked), as DIFFA-2 does.

In `threshold` mode (Fast-dLLM's parallel decoding), each pass commits every masked token of the
current block whose confidence is >= `threshold`, at least the most confident one, until the block
is full. Its EOS early stop (on by default, `eos_stop`) is the one above; it can be turned on for
any mode, and skips the remaining blocks.

Any commit rule combines with a key/value cache (`cache`): `prefix` runs the whole sequence once at
the start of each block, keeps the keys and values of everything before the block (the audio and
the prompt among them) and then runs only the block and what follows it; `dual` also keeps the
positions after the block, so that each further pass runs the block alone. Both are Fast-dLLM's
approximations: the kept keys and values are not updated while the block changes, unless
`cache_refresh=N` reruns the whole sequence every N passes (N = 1 gives `exact`'s tokens back).
Mode names join the rule and the cache: `prefix-cache`, `threshold+dual-cache`, `factor+prefix-cache`.
Rows of a batch decode each block together; a row that finishes a block early waits, out of the
forward passes, so every row decodes exactly as it would alone given the same logits (float32
gives them; in bfloat16 a left-padded row's logits may round differently).

Which of several equally confident tokens a pass commits (confidences do tie: float64
probabilities saturate at exactly 1.0) is decided as the references decide it: by `torch.topk`,
called on the row the reference ranks, with the reference's k. That row is the whole sequence
(prompt, or the part of it the reference keeps, then the canvas) on a full pass, and the positions
the pass ran on a cached one; `sample`'s `prefix_lengths` gives each row's length before the canvas.

The sampler talks to the model through a `Denoiser`: a callable from the canvas to the logits at
canvas positions. `TokenDenoiser` wraps any model whose call on `input_ids` returns `.logits`;
`ContextDenoiser` works on a context of embeddings (DIFFA splices the audio into the prompt) and
also serves the cached modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F

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


class Denoiser(Protocol):
    """The model as the sampler sees it.

    Called with the current canvases of some rows of the batch (`rows` indexes the batch the
    denoiser was built for) and returns logits at the canvas positions, shape
    (len(rows), gen_length, vocab). With `with_unconditional`, it returns the conditional logits
    of those rows followed by the unconditional ones (prompt masked), from one forward pass.
    """

    def __call__(self, canvas: torch.Tensor, rows: torch.Tensor, with_unconditional: bool) -> torch.Tensor: ...


class CachingDenoiser(Denoiser, Protocol):
    """A denoiser that can keep keys and values between passes.

    `cached(canvas, rows, span, logits_span, refresh)`: with `refresh`, run the whole sequence of
    the given rows and keep the keys and values of every position outside the canvas positions
    `span` (start, stop); otherwise run only `canvas[:, start:stop]` against what was kept (rows
    must be among those of the last refresh). Returns logits at the canvas positions `logits_span`.
    """

    def cached(
        self,
        canvas: torch.Tensor,
        rows: torch.Tensor,
        span: tuple[int, int],
        logits_span: tuple[int, int],
        refresh: bool,
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class SamplerResult:
    """Decoded canvases (batch, gen_length) and how many forwards each row cost (a
    classifier-free-guidance step counts two); `full_passes` counts those over the whole sequence
    (the rest ran on cached keys and values)."""

    tokens: torch.Tensor
    forward_passes: list[int]
    full_passes: list[int] | None = None


def transfer_schedule(masked_counts: torch.Tensor, steps: int) -> torch.Tensor:
    """Tokens to commit at each step of a block, per row: an even split, the first
    `count % steps` steps taking one more (LLaDA's linear noise schedule)."""
    counts = masked_counts.reshape(-1, 1).to(torch.int64)
    base = counts // steps
    remainder = counts % steps
    step_index = torch.arange(steps, device=counts.device).unsqueeze(0)
    return base + (step_index < remainder).to(torch.int64)


class _Noise:
    """Uniform draws for Gumbel noise and random remasking.

    Without per-row generators the draws come from torch's global generator in the shapes the
    reference draws them (the whole row of length `row_length`, of which the canvas is the tail),
    so a seeded run reproduces the reference. With per-row generators every row draws only its own
    canvas, so a row's randomness depends on neither its batch nor its position in it.
    """

    def __init__(self, gen_length: int, row_length: int, generators: Sequence[torch.Generator] | None) -> None:
        self.gen_length = gen_length
        self.row_length = max(row_length, gen_length)
        self.generators = generators

    def uniform(
        self,
        rows: torch.Tensor,
        tail: tuple[int, ...],
        device: torch.device,
        dtype: torch.dtype,
        window: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Draws for the canvas positions `window` (default: all), taken from the full-canvas draw."""
        start, stop = window or (0, self.gen_length)
        if self.generators is None:
            draw = torch.rand((len(rows), self.row_length, *tail), dtype=dtype, device=device)
            offset = self.row_length - self.gen_length
            return draw[:, offset + start : offset + stop]
        return torch.stack(
            [
                torch.rand((self.gen_length, *tail), dtype=dtype, device=device, generator=self.generators[r])[
                    start:stop
                ]
                for r in rows.tolist()
            ]
        )


def _gumbel_scores(
    logits: torch.Tensor, temperature: float, noise: _Noise, rows: torch.Tensor, window: tuple[int, int] | None
) -> torch.Tensor:
    """Gumbel-max scores in float64: exp(logits) / (-log u) ** temperature; the logits themselves at temperature 0."""
    if temperature == 0:
        return logits
    uniform = noise.uniform(rows, (logits.shape[-1],), logits.device, torch.float64, window)
    return logits.to(torch.float64).exp() / (-torch.log(uniform)) ** temperature


def _proposals(
    logits: torch.Tensor,
    settings: DiffusionSettings,
    noise: _Noise,
    rows: torch.Tensor,
    window: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted tokens and their confidences at the canvas positions `window` (default: all) that `logits` covers."""
    if settings.logits_eos_inf:
        logits[:, :, settings.eos_id] = -torch.inf
    scores = _gumbel_scores(logits, settings.temperature, noise, rows, window)
    predicted = torch.argmax(scores, dim=-1)
    if settings.confidence_eos_eot_inf:
        # The reference writes -inf into the (possibly noised) scores' EOS column and the raw
        # logits' EoT column; at temperature 0 both are the same tensor.
        scores[:, :, settings.eos_id] = -torch.inf
        logits[:, :, settings.eot_id] = -torch.inf
    if settings.remasking == "low_confidence":
        probabilities = F.softmax(logits.to(torch.float64), dim=-1)
        confidence = torch.gather(probabilities, -1, predicted.unsqueeze(-1)).squeeze(-1)
    else:
        # The reference draws these in the default dtype (float32), unlike the Gumbel noise.
        confidence = noise.uniform(rows, (), logits.device, torch.get_default_dtype(), window)
    return predicted, confidence


def _guided_logits(
    denoiser: Denoiser, canvas: torch.Tensor, rows: torch.Tensor, settings: DiffusionSettings
) -> torch.Tensor:
    if settings.cfg_scale > 0:
        both = denoiser(canvas, rows, True)
        conditional, unconditional = torch.chunk(both, 2, dim=0)
        return unconditional + (settings.cfg_scale + 1) * (conditional - unconditional)
    return denoiser(canvas, rows, False)


@torch.no_grad()
def sample(
    denoiser: Denoiser,
    batch_size: int,
    settings: DiffusionSettings,
    *,
    device: torch.device | str = "cpu",
    generators: Sequence[torch.Generator] | None = None,
    row_length: int | None = None,
    prefix_lengths: Sequence[int] | None = None,
) -> SamplerResult:
    """Decode `batch_size` answers. `row_length` (prompt + gen_length) shapes the global random
    draws so that they match the reference's (see `_Noise`). `prefix_lengths` says how many
    positions precede the canvas in each row of the reference's sequence; the tokens committed
    among tied confidences are those `torch.topk` picks over that whole row (see `_reference_topk`).
    Default: `row_length - gen_length` for every row, as in LLaDA's batched `generate`."""
    if generators is not None and len(generators) != batch_size:
        raise ConfigError(f"expected {batch_size} generators, got {len(generators)}")
    if prefix_lengths is None:
        prefix_lengths = [max((row_length or 0) - settings.gen_length, 0)] * batch_size
    if len(prefix_lengths) != batch_size:
        raise ConfigError(f"expected {batch_size} prefix lengths, got {len(prefix_lengths)}")
    canvas = torch.full((batch_size, settings.gen_length), settings.mask_id, dtype=torch.long, device=device)
    noise = _Noise(settings.gen_length, row_length or settings.gen_length, generators)
    prefixes = [int(length) for length in prefix_lengths]
    if settings.decoding == "exact" and settings.cache == "none" and not settings.stops_at_eos:
        return SamplerResult(canvas, _sample_exact(denoiser, canvas, settings, noise, prefixes))
    if settings.cache != "none" and not hasattr(denoiser, "cached"):
        raise ConfigError(f"decoding mode {settings.mode} needs a denoiser that can cache keys and values")
    forward_passes, full_passes = _sample_blocks(denoiser, canvas, settings, noise, prefixes)
    return SamplerResult(canvas, forward_passes, full_passes)


def _reference_topk(
    confidence: torch.Tensor, k: Sequence[int], lengths: Sequence[int], offsets: Sequence[int]
) -> list[torch.Tensor]:
    """Per row, the columns of `confidence` that `torch.topk(line, k[row])` returns, in its order,
    where `line` is that row as the reference holds it: `lengths[row]` positions, -inf everywhere
    but the columns of `confidence`, which start at `offsets[row]`.

    Which of several tied positions topk returns depends on the length of the line it is given and
    on k (confidences tie in practice: float64 probabilities saturate at exactly 1.0), so the
    sampler calls it on the very shape and with the very k the reference does, one row at a time
    as the reference does, rather than on the canvas alone."""
    width = confidence.shape[1]
    chosen = []
    for row in range(confidence.shape[0]):
        line = confidence.new_full((lengths[row],), -torch.inf)
        line[offsets[row] : offsets[row] + width] = confidence[row]
        chosen.append(torch.topk(line, k[row]).indices - offsets[row])
    return chosen


def _sample_exact(
    denoiser: Denoiser, canvas: torch.Tensor, settings: DiffusionSettings, noise: _Noise, prefixes: list[int]
) -> list[int]:
    rows = torch.arange(canvas.shape[0], device=canvas.device)
    block, steps = settings.block_size, settings.steps_per_block
    lengths = [prefix + settings.gen_length for prefix in prefixes]
    passes = 0
    for block_index in range(settings.num_blocks):
        end = (block_index + 1) * block
        schedule = transfer_schedule((canvas[:, end - block : end] == settings.mask_id).sum(dim=1), steps).tolist()
        for step in range(steps):
            masked = canvas == settings.mask_id
            logits = _guided_logits(denoiser, canvas, rows, settings)
            passes += 2 if settings.cfg_scale > 0 else 1
            predicted, confidence = _proposals(logits, settings, noise, rows)
            confidence[:, end:] = -torch.inf
            predicted = torch.where(masked, predicted, canvas)
            confidence = torch.where(masked, confidence, -torch.inf)
            counts = [row_schedule[step] for row_schedule in schedule]
            for row, chosen in enumerate(_reference_topk(confidence, counts, lengths, prefixes)):
                canvas[row, chosen] = predicted[row, chosen]
    return [passes] * canvas.shape[0]


def _commit_counts(
    confidence: torch.Tensor, remaining: torch.Tensor, settings: DiffusionSettings, scheduled: torch.Tensor
) -> torch.Tensor:
    """Tokens each row commits this pass under the `exact` schedule or the factor rule, from its
    block's confidences (-inf where not masked)."""
    if settings.decoding == "exact":
        return scheduled
    ranked = torch.sort(confidence, dim=1, descending=True).values
    index = torch.arange(confidence.shape[1], device=confidence.device)
    limit = 1 - settings.factor / (index + 2).to(ranked.dtype)
    fails = (ranked < limit) & (index >= 1) & (index < remaining.unsqueeze(1))
    first_fail = torch.where(fails.any(dim=1), fails.to(torch.int64).argmax(dim=1), remaining)
    return torch.where(first_fail == remaining - 1, remaining, first_fail).clamp(min=1)


def _commit_mask(
    confidence: torch.Tensor,
    remaining: torch.Tensor,
    settings: DiffusionSettings,
    scheduled: torch.Tensor,
    lengths: Sequence[int],
    offsets: Sequence[int],
) -> torch.Tensor:
    """Which of the block's positions each row commits this pass, chosen as the references choose
    them (see `_reference_topk`): the `exact` schedule's and the factor rule's count as topk's top
    positions; the threshold rule every position at or above the threshold, and in any case the
    first position topk ranks among all the masked ones (Fast-dLLM's rule)."""
    if settings.decoding == "threshold":
        chosen = confidence >= settings.threshold
        firsts = _reference_topk(confidence, remaining.tolist(), lengths, offsets)
        for row, first in enumerate(firsts):
            chosen[row, first[:1]] = True
        return chosen
    counts = _commit_counts(confidence, remaining, settings, scheduled).tolist()
    chosen = torch.zeros_like(confidence, dtype=torch.bool)
    for row, picked in enumerate(_reference_topk(confidence, counts, lengths, offsets)):
        chosen[row, picked] = True
    return chosen


def _sample_blocks(
    denoiser: Denoiser, canvas: torch.Tensor, settings: DiffusionSettings, noise: _Noise, prefixes: list[int]
) -> tuple[list[int], list[int]]:
    """Every mode but plain `exact`: blocks decoded in step across rows, each pass vectorised over rows."""
    batch, block, device = canvas.shape[0], settings.block_size, canvas.device
    passes = torch.zeros(batch, dtype=torch.int64, device=device)
    full_passes = torch.zeros(batch, dtype=torch.int64, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    in_block = torch.arange(block, device=device)
    cost = 2 if settings.cfg_scale > 0 else 1
    for block_index in range(settings.num_blocks):
        start, end = block_index * block, (block_index + 1) * block
        window = (start, end)
        span = (start, settings.gen_length if settings.cache == "prefix" else end)
        rows = (~finished).nonzero().squeeze(1)
        schedule = transfer_schedule((canvas[:, start:end] == settings.mask_id).sum(dim=1), settings.steps_per_block)
        step = 0
        while len(rows):
            refresh = step == 0 or (settings.cache_refresh > 0 and step % settings.cache_refresh == 0)
            if settings.cache == "none":
                logits = _guided_logits(denoiser, canvas[rows], rows, settings)[:, start:end]
            else:
                caching: CachingDenoiser = denoiser  # type: ignore[assignment]
                logits = caching.cached(canvas[rows], rows, span, window, refresh)
            passes[rows] += cost
            if settings.cache == "none" or refresh:
                full_passes[rows] += cost
            if settings.decoding != "exact":
                logits[:, :, settings.mask_id] = -torch.inf  # a committed mask would never fill its position
            predicted, confidence = _proposals(logits, settings, noise, rows, window)
            current = canvas[rows, start:end]
            masked = current == settings.mask_id
            confidence = torch.where(masked, confidence, -torch.inf)
            scheduled = schedule[rows, min(step, settings.steps_per_block - 1)]
            if settings.cache == "none" or refresh:
                # The pass ran the whole sequence: the reference ranks over its whole row.
                row_prefixes = [prefixes[r] for r in rows.tolist()]
                lengths = [prefix + settings.gen_length for prefix in row_prefixes]
                starts = [prefix + start for prefix in row_prefixes]
            else:
                # A cached pass: Fast-dLLM ranks over the positions it ran (the block, and what follows it for prefix).
                lengths, starts = [span[1] - span[0]] * len(rows), [start - span[0]] * len(rows)
            chosen = _commit_mask(confidence, masked.sum(dim=1), settings, scheduled, lengths, starts)
            current = torch.where(chosen & masked, predicted, current)
            still_masked = current == settings.mask_id
            done = ~still_masked.any(dim=1) | (step + 1 >= settings.steps_per_block and settings.decoding == "exact")
            if settings.stops_at_eos:
                is_eos = current == settings.eos_id
                first_eos = torch.where(is_eos.any(dim=1), is_eos.to(torch.int64).argmax(dim=1), block)
                stops = is_eos.any(dim=1) & ~(still_masked & (in_block < first_eos.unsqueeze(1))).any(dim=1)
                current = torch.where(
                    stops.unsqueeze(1) & (in_block > first_eos.unsqueeze(1)), settings.eos_id, current
                )
                finished[rows[stops]] = True
                done = done | stops
            canvas[rows, start:end] = current
            rows = rows[~done]
            step += 1
    return passes.tolist(), full_passes.tolist()


class TokenDenoiser:
    """A `Denoiser` over any model whose call on `input_ids` returns an object with `.logits`.

    The rows are `prompt ‖ canvas`; with an attention mask (left-padded prompts) it is extended
    with ones over the canvas. The unconditional copy masks every prompt token that is not already
    the mask token, as LLaDA does.
    """

    def __init__(
        self, model: Any, prompt: torch.Tensor, attention_mask: torch.Tensor | None = None, mask_id: int = MASK_ID
    ) -> None:
        self.model = model
        self.prompt = prompt
        self.attention_mask = attention_mask
        self.mask_id = mask_id

    def __call__(self, canvas: torch.Tensor, rows: torch.Tensor, with_unconditional: bool) -> torch.Tensor:
        prompt = self.prompt[rows]
        tokens = torch.cat([prompt, canvas], dim=1)
        mask = None
        if self.attention_mask is not None:
            mask = torch.cat([self.attention_mask[rows], torch.ones_like(canvas, dtype=self.attention_mask.dtype)], 1)
        if with_unconditional:
            unconditional = tokens.clone()
            unconditional[:, : prompt.shape[1]][prompt != self.mask_id] = self.mask_id
            tokens = torch.cat([tokens, unconditional], dim=0)
            mask = None if mask is None else torch.cat([mask, mask], dim=0)
        output = self.model(tokens) if mask is None else self.model(tokens, attention_mask=mask)
        logits: torch.Tensor = output.logits
        return logits[:, prompt.shape[1] :]


class ContextDenoiser:
    """A `Denoiser` (and `CachingDenoiser`) over fixed per-row context embeddings followed by the canvas.

    `context` (batch, width, hidden) is left-padded, `context_mask` (batch, width) marks its real
    positions; positions are counted from each row's first real one, so a row decodes the same alone
    or in any batch. `unconditional` is the context of the classifier-free-guidance copy. The model
    is LLaDA's native module (`inputs_embeds`, `position_ids`, `logits_range`, and, for caching,
    `past_key_values` / `return_key_values`).
    """

    def __init__(
        self,
        model: Any,
        context: torch.Tensor,
        context_mask: torch.Tensor,
        unconditional: torch.Tensor | None = None,
    ) -> None:
        self.model = model
        self.context = context
        self.context_mask = context_mask
        self.unconditional = unconditional
        self._kept: Any = None
        self._kept_rows: torch.Tensor | None = None
        self._span_positions: torch.Tensor | None = None

    def _inputs(
        self, canvas: torch.Tensor, rows: torch.Tensor, with_unconditional: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        canvas_embeds = self.model.get_input_embeddings()(canvas)
        contexts = [self.context[rows]]
        if with_unconditional:
            if self.unconditional is None:
                raise ValueError("this denoiser was built without an unconditional context")
            contexts.append(self.unconditional[rows])
        embeds = torch.cat([torch.cat([c, canvas_embeds], dim=1) for c in contexts], dim=0)
        mask = torch.cat([self.context_mask[rows], torch.ones_like(canvas)], dim=1).repeat(len(contexts), 1)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        return embeds, mask, positions

    def __call__(self, canvas: torch.Tensor, rows: torch.Tensor, with_unconditional: bool) -> torch.Tensor:
        embeds, mask, positions = self._inputs(canvas, rows, with_unconditional)
        output = self.model(
            inputs_embeds=embeds, attention_mask=mask, position_ids=positions, logits_to_keep=canvas.shape[1]
        )
        logits: torch.Tensor = output.logits
        return logits

    def cached(
        self,
        canvas: torch.Tensor,
        rows: torch.Tensor,
        span: tuple[int, int],
        logits_span: tuple[int, int],
        refresh: bool,
    ) -> torch.Tensor:
        width = self.context.shape[1]
        if refresh:
            embeds, mask, positions = self._inputs(canvas, rows, False)
            output = self.model(
                inputs_embeds=embeds,
                attention_mask=mask,
                position_ids=positions,
                return_key_values=True,
                logits_range=(width + logits_span[0], width + logits_span[1]),
            )
            self._kept = output.key_values.without(width + span[0], width + span[1])
            self._kept_rows = rows
            self._span_positions = positions[:, width + span[0] : width + span[1]]
            fresh: torch.Tensor = output.logits
            return fresh
        if self._kept is None or self._kept_rows is None or self._span_positions is None:
            raise ValueError("cached() needs a refresh before its first cached pass")
        if not torch.equal(rows, self._kept_rows):
            index = torch.searchsorted(self._kept_rows, rows)
            self._kept = self._kept.select_rows(index)
            self._span_positions = self._span_positions[index]
            self._kept_rows = rows
        output = self.model(
            inputs_embeds=self.model.get_input_embeddings()(canvas[:, span[0] : span[1]]),
            position_ids=self._span_positions,
            past_key_values=self._kept,
            logits_range=(logits_span[0] - span[0], logits_span[1] - span[0]),
        )
        logits: torch.Tensor = output.logits
        return logits


@torch.no_grad()
def generate(
    model: Any,
    prompt: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    steps: int = 128,
    gen_length: int = 128,
    block_length: int = 128,
    temperature: float = 0.0,
    cfg_scale: float = 0.0,
    remasking: str = "low_confidence",
    mask_id: int = MASK_ID,
    logits_eos_inf: bool = False,
    confidence_eos_eot_inf: bool = False,
    *,
    decoding: str = "exact",
    factor: float = 1.0,
    eos_id: int = EOS_ID,
    eot_id: int = EOT_ID,
    threshold: float = 0.9,
    eos_stop: bool | None = None,
    cache_refresh: int = 0,
) -> torch.Tensor:
    """LLaDA's `generate` with the same arguments and result: `prompt ‖ answer` token ids,
    shape (batch, prompt_len + gen_length). `decoding` takes any mode name; the cached modes need
    LLaDA's native module (`LLaDAForMaskedDiffusion`) and count positions from each row's first
    real token."""
    rule, cache = parse_mode(decoding)
    settings = DiffusionSettings(
        gen_length=gen_length,
        steps=steps,
        block_length=block_length,
        temperature=temperature,
        cfg_scale=cfg_scale,
        remasking=remasking,
        decoding=rule,
        factor=factor,
        mask_id=mask_id,
        eos_id=eos_id,
        eot_id=eot_id,
        logits_eos_inf=logits_eos_inf,
        confidence_eos_eot_inf=confidence_eos_eot_inf,
        cache=cache,
        threshold=threshold,
        eos_stop=eos_stop,
        cache_refresh=cache_refresh,
    )
    denoiser: Denoiser = TokenDenoiser(model, prompt, attention_mask, mask_id)
    if cache != "none":
        mask = torch.ones_like(prompt) if attention_mask is None else attention_mask
        denoiser = ContextDenoiser(model, model.get_input_embeddings()(prompt), mask)
    result = sample(denoiser, prompt.shape[0], settings, device=prompt.device, row_length=prompt.shape[1] + gen_length)
    return torch.cat([prompt, result.tokens], dim=1)
