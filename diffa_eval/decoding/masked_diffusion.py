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

The sampler talks to the model through a `Denoiser` (`denoisers`): a callable from the canvas to
the logits at canvas positions. `TokenDenoiser` wraps any model whose call on `input_ids` returns
`.logits`; `ContextDenoiser` works on a context of embeddings (DIFFA splices the audio into the
prompt) and also serves the cached modes. Settings and mode names live in `settings`, a pass's
proposals and commits in `commits`.

The host never waits for the accelerator inside `exact` decoding, nor in the cached modes under the
exact schedule: every count they need follows from the schedule. The threshold rule and the EOS stop
read back one small tensor per pass (how many masks each row has left, which rows stopped), as any
data-dependent loop must; the factor rule reads its counts back too.
"""


from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError
from .commits import Noise, block_schedule, commit_mask, proposals, reference_topk, to_device
from .denoisers import CachingDenoiser, ContextDenoiser, Denoiser, TokenDenoiser
from .settings import EOS_ID, EOT_ID, MASK_ID, DiffusionSettings, parse_mode


@dataclass(frozen=True)
class SamplerResult:
    """Decoded canvases (batch, gen_length) and how many forwards each row cost (a
    classifier-free-guidance step counts two); `full_passes` counts those over the whole sequence
    (the rest ran on cached keys and values)."""

    tokens: torch.Tensor
    forward_passes: list[int]
    full_passes: list[int] | None = None


def _guided_logits(
    denoiser: Denoiser, canvas: torch.Tensor, rows: torch.Tensor, settings: DiffusionSettings, window: tuple[int, int]
) -> torch.Tensor:
    """Logits at the canvas positions `window`, with classifier-free guidance when it is on."""
    start, stop = window
    if settings.cfg_scale > 0:
        both = denoiser(canvas, rows, True)[:, start:stop]
        conditional, unconditional = torch.chunk(both, 2, dim=0)
        return unconditional + (settings.cfg_scale + 1) * (conditional - unconditional)
    return denoiser(canvas, rows, False)[:, start:stop]


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
    draws so that they match the reference's (see `Noise`). `prefix_lengths` says how many
    positions precede the canvas in each row of the reference's sequence; the tokens committed
    among tied confidences are those `torch.topk` picks over that whole row (see `reference_topk`).
    Default: `row_length - gen_length` for every row, as in LLaDA's batched `generate`."""
    if generators is not None and len(generators) != batch_size:
        raise ConfigError(f"expected {batch_size} generators, got {len(generators)}")
    if prefix_lengths is None:
        prefix_lengths = [max((row_length or 0) - settings.gen_length, 0)] * batch_size
    if len(prefix_lengths) != batch_size:
        raise ConfigError(f"expected {batch_size} prefix lengths, got {len(prefix_lengths)}")
    canvas = torch.full((batch_size, settings.gen_length), settings.mask_id, dtype=torch.long, device=device)
    noise = Noise(settings.gen_length, row_length or settings.gen_length, generators)
    prefixes = [int(length) for length in prefix_lengths]
    if settings.decoding == "exact" and settings.cache == "none" and not settings.stops_at_eos:
        return SamplerResult(canvas, _sample_exact(denoiser, canvas, settings, noise, prefixes))
    if settings.cache != "none" and not hasattr(denoiser, "cached"):
        raise ConfigError(f"decoding mode {settings.mode} needs a denoiser that can cache keys and values")
    forward_passes, full_passes = _sample_blocks(denoiser, canvas, settings, noise, prefixes)
    return SamplerResult(canvas, forward_passes, full_passes)


def _sample_exact(
    denoiser: Denoiser, canvas: torch.Tensor, settings: DiffusionSettings, noise: Noise, prefixes: list[int]
) -> list[int]:
    """LLaDA's loop: every block gets its steps, every pass commits the schedule's count in every row."""
    batch = canvas.shape[0]
    rows = torch.arange(batch, device=canvas.device)
    host_rows = list(range(batch))
    block, steps = settings.block_size, settings.steps_per_block
    schedule = block_schedule(block, steps)
    lengths = [prefix + settings.gen_length for prefix in prefixes]
    passes = 0
    for block_index in range(settings.num_blocks):
        start, end = block_index * block, (block_index + 1) * block
        offsets = [prefix + start for prefix in prefixes]
        for step in range(steps):
            logits = _guided_logits(denoiser, canvas, rows, settings, (start, end))
            passes += 2 if settings.cfg_scale > 0 else 1
            predicted, confidence = proposals(logits, settings, noise, host_rows, (start, end))
            current = canvas[:, start:end]
            confidence = torch.where(current == settings.mask_id, confidence, -torch.inf)
            chosen = reference_topk(confidence, [schedule[step]] * batch, lengths, offsets)
            canvas[:, start:end] = torch.where(chosen, predicted, current)
    return [passes] * batch


def _sample_blocks(
    denoiser: Denoiser, canvas: torch.Tensor, settings: DiffusionSettings, noise: Noise, prefixes: list[int]
) -> tuple[list[int], list[int]]:
    """Every mode but plain `exact`: blocks decoded in step across rows, each pass vectorised over rows.

    The host keeps each active row's number of masked positions in its block (`remaining`); the
    exact schedule decides it in advance, the threshold rule and the EOS stop read it back at the
    end of each pass, together with the rows that stopped."""
    batch, block, device = canvas.shape[0], settings.block_size, canvas.device
    passes, full_passes = [0] * batch, [0] * batch
    finished = [False] * batch
    in_block = torch.arange(block, device=device)
    cost = 2 if settings.cfg_scale > 0 else 1
    schedule = block_schedule(block, settings.steps_per_block)
    read_back = settings.decoding != "exact" or settings.stops_at_eos
    for block_index in range(settings.num_blocks):
        start, end = block_index * block, (block_index + 1) * block
        window = (start, end)
        span = (start, settings.gen_length if settings.cache == "prefix" else end)
        rows = [row for row in range(batch) if not finished[row]]
        row_index = to_device(rows, device)
        remaining = [block] * len(rows)
        step = 0
        while rows:
            refresh = step == 0 or (settings.cache_refresh > 0 and step % settings.cache_refresh == 0)
            if settings.cache == "none":
                logits = _guided_logits(denoiser, canvas[row_index], row_index, settings, window)
            else:
                caching: CachingDenoiser = denoiser  # type: ignore[assignment]
                logits = caching.cached(canvas[row_index], row_index, span, window, refresh)
            for row in rows:
                passes[row] += cost
                full_passes[row] += cost if settings.cache == "none" or refresh else 0
            if settings.decoding != "exact":
                logits[:, :, settings.mask_id] = -torch.inf  # a committed mask would never fill its position
            predicted, confidence = proposals(logits, settings, noise, rows, window)
            current = canvas[row_index, start:end]
            masked = current == settings.mask_id
            confidence = torch.where(masked, confidence, -torch.inf)
            if settings.cache == "none" or refresh:
                # The pass ran the whole sequence: the reference ranks over its whole row.
                lengths = [prefixes[row] + settings.gen_length for row in rows]
                offsets = [prefixes[row] + start for row in rows]
            else:
                # A cached pass: Fast-dLLM ranks over the positions it ran (the block, and what follows it for prefix).
                lengths, offsets = [span[1] - span[0]] * len(rows), [start - span[0]] * len(rows)
            scheduled = schedule[min(step, settings.steps_per_block - 1)]
            chosen = commit_mask(confidence, masked, settings, remaining, scheduled, lengths, offsets)
            current = torch.where(chosen & masked, predicted, current)
            still_masked = current == settings.mask_id
            stops = torch.zeros(len(rows), dtype=torch.bool, device=device)
            if settings.stops_at_eos:
                is_eos = current == settings.eos_id
                first_eos = torch.where(is_eos.any(dim=1), is_eos.to(torch.int64).argmax(dim=1), block)
                stops = is_eos.any(dim=1) & ~(still_masked & (in_block < first_eos.unsqueeze(1))).any(dim=1)
                current = torch.where(
                    stops.unsqueeze(1) & (in_block > first_eos.unsqueeze(1)), settings.eos_id, current
                )
            canvas[row_index, start:end] = current
            if read_back:
                left, stopped = torch.stack([still_masked.sum(dim=1), stops.to(torch.int64)]).tolist()
            else:
                left, stopped = [count - scheduled for count in remaining], [0] * len(rows)
            step += 1
            out_of_steps = step >= settings.steps_per_block and settings.decoding == "exact"
            for row, stop in zip(rows, stopped, strict=True):
                finished[row] = finished[row] or bool(stop)
            going = [i for i, row in enumerate(rows) if left[i] and not stopped[i] and not out_of_steps]
            if len(going) < len(rows):
                row_index = row_index[to_device(going, device)]
                rows = [rows[i] for i in going]
            remaining = [left[i] for i in going]
    return passes, full_passes


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
