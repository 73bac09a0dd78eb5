"""One pass's proposals and commits: the transfer schedule, Gumbel noise, confidences, and which
masked positions a pass commits, ranked as the references rank them.

Everything here works on whole batches with tensor operations; the host supplies only numbers it
already holds (the schedule, each row's length, the counts it read at the end of the last pass), so
that nothing here waits for the accelerator. The exception is the factor rule, whose count depends
on the very confidences it ranks.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .settings import DiffusionSettings


def transfer_schedule(masked_counts: torch.Tensor, steps: int) -> torch.Tensor:
    """Tokens to commit at each step of a block, per row: an even split, the first
    `count % steps` steps taking one more (LLaDA's linear noise schedule)."""
    counts = masked_counts.reshape(-1, 1).to(torch.int64)
    base = counts // steps
    remainder = counts % steps
    step_index = torch.arange(steps, device=counts.device).unsqueeze(0)
    return base + (step_index < remainder).to(torch.int64)


def block_schedule(block: int, steps: int) -> list[int]:
    """The transfer schedule of a block whose `block` positions are all masked, on the host: every
    block starts that way, so the sampler never reads the schedule back from the accelerator."""
    base, extra = divmod(block, steps)
    return [base + (step < extra) for step in range(steps)]


def to_device(values: Sequence[int], device: torch.device) -> torch.Tensor:
    """An int64 tensor of host numbers on `device`, copied without waiting for the work queued there
    (from pinned memory on a GPU; a plain copy from pageable memory would wait)."""
    tensor = torch.tensor(list(values), dtype=torch.int64)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class Noise:
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
        rows: Sequence[int],
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
        # One generator per row: torch draws from one generator per call, so the rows go one by one.
        return torch.stack(
            [
                torch.rand((self.gen_length, *tail), dtype=dtype, device=device, generator=self.generators[r])[
                    start:stop
                ]
                for r in rows
            ]
        )


def _gumbel_scores(
    logits: torch.Tensor, temperature: float, noise: Noise, rows: Sequence[int], window: tuple[int, int] | None
) -> torch.Tensor:
    """Gumbel-max scores in float64: exp(logits) / (-log u) ** temperature; the logits themselves at temperature 0."""
    if temperature == 0:
        return logits
    uniform = noise.uniform(rows, (logits.shape[-1],), logits.device, torch.float64, window)
    return logits.to(torch.float64).exp() / (-torch.log(uniform)) ** temperature


def proposals(
    logits: torch.Tensor,
    settings: DiffusionSettings,
    noise: Noise,
    rows: Sequence[int],
    window: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted tokens and their confidences at the canvas positions `window` (default: all) that
    `logits` covers. The float64 softmax runs over these positions only: the sampler passes the
    current block, the only positions a pass can commit (the others' confidences would be -inf)."""
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


def reference_topk(
    confidence: torch.Tensor,
    k: Sequence[int],
    lengths: Sequence[int],
    offsets: Sequence[int],
    first_only: bool = False,
) -> torch.Tensor:
    """Which columns of `confidence` (rows, width) `torch.topk(line, k[row])` returns for each row
    (only the first it returns, with `first_only`), as a boolean mask; `line` is the row as the
    reference holds it: `lengths[row]` positions, -inf everywhere but the columns of `confidence`,
    which start at `offsets[row]`.

    Which of several tied positions topk returns depends on the length of the line it is given and
    on k (confidences tie in practice: float64 probabilities saturate at exactly 1.0), so each row
    is ranked on the very shape and with the very k the reference uses. Rows that share a length,
    an offset and a k are ranked by one topk over a (rows, length) tensor, which ranks each row
    exactly as topk over that row alone does."""
    batch, width = confidence.shape
    groups: dict[tuple[int, int, int], list[int]] = {}
    for row, key in enumerate(zip(lengths, offsets, k, strict=True)):
        if key[2] > 0:
            groups.setdefault(key, []).append(row)
    chosen = torch.zeros_like(confidence, dtype=torch.bool)
    for (length, offset, count), members in groups.items():
        index = None if len(members) == batch else to_device(members, confidence.device)
        ranked = confidence if index is None else confidence.index_select(0, index)
        lines = ranked.new_full((len(members), length), -torch.inf)
        lines[:, offset : offset + width] = ranked
        picked = torch.topk(lines, count, dim=1).indices[:, : 1 if first_only else count] - offset
        # A pick outside the columns would be a -inf position (k above the finite ones): never committed.
        inside = ((picked >= 0) & (picked < width)).to(torch.int64)
        hits = picked.new_zeros(ranked.shape).scatter_add_(1, picked.clamp(0, width - 1), inside) > 0
        if index is None:
            chosen |= hits
        else:
            chosen[index] = hits
    return chosen


def factor_counts(confidence: torch.Tensor, remaining: torch.Tensor, factor: float) -> torch.Tensor:
    """Tokens each row commits this pass under DIFFA-2's factor rule, from its block's confidences
    (-inf where not masked) and its number of masked positions."""
    ranked = torch.sort(confidence, dim=1, descending=True).values
    index = torch.arange(confidence.shape[1], device=confidence.device)
    limit = 1 - factor / (index + 2).to(ranked.dtype)
    fails = (ranked < limit) & (index >= 1) & (index < remaining.unsqueeze(1))
    first_fail = torch.where(fails.any(dim=1), fails.to(torch.int64).argmax(dim=1), remaining)
    return torch.where(first_fail == remaining - 1, remaining, first_fail).clamp(min=1)


def commit_mask(
    confidence: torch.Tensor,
    masked: torch.Tensor,
    settings: DiffusionSettings,
    remaining: Sequence[int],
    scheduled: int,
    lengths: Sequence[int],
    offsets: Sequence[int],
) -> torch.Tensor:
    """Which of the block's positions each row commits this pass (`masked`: its block's masked
    positions; `remaining`: their number, as the host knows it), chosen as the references choose
    them (see `reference_topk`): the `exact` schedule's count (`scheduled`) and the factor rule's
    count as topk's top positions; the threshold rule every position at or above the threshold, and
    in any case the first position topk ranks among all the masked ones (Fast-dLLM's rule)."""
    if settings.decoding == "threshold":
        return (confidence >= settings.threshold) | reference_topk(confidence, remaining, lengths, offsets, True)
    if settings.decoding == "exact":
        counts = [scheduled] * len(remaining)
    else:
        # The factor rule's count depends on this pass's confidences: the one read-back of the pass.
        counts = factor_counts(confidence, masked.sum(dim=1), settings.factor).tolist()
    return reference_topk(confidence, counts, lengths, offsets)
