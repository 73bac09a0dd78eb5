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

The sampler talks to the model through a `Denoiser`: a callable from the canvas to the logits at
canvas positions. `TokenDenoiser` wraps any model whose call on `input_ids` returns `.logits`;
the DIFFA adapter supplies one that splices audio embeddings into the prompt.
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
DECODING = ("exact", "factor")


@dataclass(frozen=True)
class DiffusionSettings:
    """How to decode. `steps` and `block_length` default to `gen_length`, as every DIFFA script sets them.

    `logits_eos_inf` and `confidence_eos_eot_inf` are LLaDA's optional EOS/EoT suppression flags
    (off in DIFFA); `confidence_eos_eot_inf` keeps the reference's behaviour, which zeroes the EOS
    confidence only at temperature 0.
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
        return settings


class Denoiser(Protocol):
    """The model as the sampler sees it.

    Called with the current canvases of some rows of the batch (`rows` indexes the batch the
    denoiser was built for) and returns logits at the canvas positions, shape
    (len(rows), gen_length, vocab). With `with_unconditional`, it returns the conditional logits
    of those rows followed by the unconditional ones (prompt masked), from one forward pass.
    """

    def __call__(self, canvas: torch.Tensor, rows: torch.Tensor, with_unconditional: bool) -> torch.Tensor: ...


@dataclass(frozen=True)
class SamplerResult:
    """Decoded canvases (batch, gen_length) and how many sequence forwards each row cost
    (a classifier-free-guidance step counts two)."""

    tokens: torch.Tensor
    forward_passes: list[int]


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
        self, rows: torch.Tensor, tail: tuple[int, ...], device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        if self.generators is None:
            draw = torch.rand((len(rows), self.row_length, *tail), dtype=dtype, device=device)
            return draw[:, self.row_length - self.gen_length :]
        return torch.stack(
            [
                torch.rand((self.gen_length, *tail), dtype=dtype, device=device, generator=self.generators[r])
                for r in rows.tolist()
            ]
        )


def _gumbel_scores(logits: torch.Tensor, temperature: float, noise: _Noise, rows: torch.Tensor) -> torch.Tensor:
    """Gumbel-max scores in float64: exp(logits) / (-log u) ** temperature; the logits themselves at temperature 0."""
    if temperature == 0:
        return logits
    uniform = noise.uniform(rows, (logits.shape[-1],), logits.device, torch.float64)
    return logits.to(torch.float64).exp() / (-torch.log(uniform)) ** temperature


def _proposals(
    logits: torch.Tensor, settings: DiffusionSettings, noise: _Noise, rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted tokens and their confidences at every canvas position."""
    if settings.logits_eos_inf:
        logits[:, :, settings.eos_id] = -torch.inf
    scores = _gumbel_scores(logits, settings.temperature, noise, rows)
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
        confidence = noise.uniform(rows, (), logits.device, torch.get_default_dtype())
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
) -> SamplerResult:
    """Decode `batch_size` answers. `row_length` (prompt + gen_length) only shapes the global
    random draws so that they match the reference's; see `_Noise`."""
    if generators is not None and len(generators) != batch_size:
        raise ConfigError(f"expected {batch_size} generators, got {len(generators)}")
    canvas = torch.full((batch_size, settings.gen_length), settings.mask_id, dtype=torch.long, device=device)
    noise = _Noise(settings.gen_length, row_length or settings.gen_length, generators)
    if settings.decoding == "exact":
        forward_passes = _sample_exact(denoiser, canvas, settings, noise)
    else:
        forward_passes = _sample_factor(denoiser, canvas, settings, noise)
    return SamplerResult(canvas, forward_passes)


def _sample_exact(denoiser: Denoiser, canvas: torch.Tensor, settings: DiffusionSettings, noise: _Noise) -> list[int]:
    rows = torch.arange(canvas.shape[0], device=canvas.device)
    block, steps = settings.block_size, settings.steps_per_block
    passes = 0
    for block_index in range(settings.num_blocks):
        end = (block_index + 1) * block
        schedule = transfer_schedule((canvas[:, end - block : end] == settings.mask_id).sum(dim=1), steps)
        for step in range(steps):
            masked = canvas == settings.mask_id
            logits = _guided_logits(denoiser, canvas, rows, settings)
            passes += 2 if settings.cfg_scale > 0 else 1
            predicted, confidence = _proposals(logits, settings, noise, rows)
            confidence[:, end:] = -torch.inf
            predicted = torch.where(masked, predicted, canvas)
            confidence = torch.where(masked, confidence, -torch.inf)
            for row in range(canvas.shape[0]):
                chosen = torch.topk(confidence[row], k=int(schedule[row, step])).indices
                canvas[row, chosen] = predicted[row, chosen]
    return [passes] * canvas.shape[0]


def _factor_count(sorted_confidence: torch.Tensor, factor: float) -> int:
    """How many of the most confident masked tokens to commit: the n-th (1-indexed) while its
    confidence is >= 1 - factor / (n + 1), at least one. As in DIFFA-2, when every token but the
    last passes, the last is committed too."""
    count = len(sorted_confidence)
    values = sorted_confidence.tolist()
    stop = 0
    for stop in range(count):
        threshold = -1.0 if stop == 0 else 1 - factor / (stop + 2)
        if values[stop] < threshold:
            break
    if stop in (0, count - 1):
        stop += 1
    return stop


def _sample_factor(denoiser: Denoiser, canvas: torch.Tensor, settings: DiffusionSettings, noise: _Noise) -> list[int]:
    batch, block = canvas.shape[0], settings.block_size
    current_block = [0] * batch
    finished = [False] * batch
    passes = [0] * batch
    positions = torch.arange(settings.gen_length, device=canvas.device)
    while not all(finished):
        active = [row for row in range(batch) if not finished[row]]
        rows = torch.tensor(active, device=canvas.device)
        logits = _guided_logits(denoiser, canvas[rows], rows, settings)
        predicted, confidence = _proposals(logits, settings, noise, rows)
        for index, row in enumerate(active):
            passes[row] += 1
            start = current_block[row] * block
            end = start + block
            masked = (canvas[row] == settings.mask_id) & (positions < end)
            row_confidence = torch.where(masked, confidence[index], -torch.inf)
            ranked = torch.sort(row_confidence[masked], descending=True).values
            chosen = torch.topk(row_confidence, k=_factor_count(ranked, settings.factor)).indices
            canvas[row, chosen] = predicted[index, chosen]
            current = canvas[row, start:end]
            eos_positions = (current == settings.eos_id).nonzero()
            if len(eos_positions):
                first_eos = int(eos_positions[0, 0])
                if not bool((current[:first_eos] == settings.mask_id).any()):
                    canvas[row, start + first_eos + 1 : end] = settings.eos_id
                    finished[row] = True
                    continue
            if not bool((current == settings.mask_id).any()):
                current_block[row] += 1
                finished[row] = current_block[row] == settings.num_blocks
    return passes


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
) -> torch.Tensor:
    """LLaDA's `generate` with the same arguments and result: `prompt ‖ answer` token ids,
    shape (batch, prompt_len + gen_length)."""
    settings = DiffusionSettings(
        gen_length=gen_length,
        steps=steps,
        block_length=block_length,
        temperature=temperature,
        cfg_scale=cfg_scale,
        remasking=remasking,
        decoding=decoding,
        factor=factor,
        mask_id=mask_id,
        eos_id=eos_id,
        eot_id=eot_id,
        logits_eos_inf=logits_eos_inf,
        confidence_eos_eot_inf=confidence_eos_eot_inf,
    )
    denoiser = TokenDenoiser(model, prompt, attention_mask, mask_id)
    result = sample(denoiser, prompt.shape[0], settings, device=prompt.device, row_length=prompt.shape[1] + gen_length)
    return torch.cat([prompt, result.tokens], dim=1)
