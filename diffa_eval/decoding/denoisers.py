"""The model as the sampler sees it: the `Denoiser` protocols, and denoisers over token ids
(`TokenDenoiser`, any model with `.logits`) and over context embeddings (`ContextDenoiser`, LLaDA's
native module, which also serves the key/value-cached modes).

Neither denoiser waits for the accelerator between passes: whether the context has padding is read
once, when the denoiser is built, and a cached pass's rows are told apart from the last refresh's by
their number (the sampler only ever drops rows within a block), so that the host can queue the next
pass while the current one runs.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch

from .settings import MASK_ID


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
    must be those of the last refresh or, in the same order, fewer of them). Returns logits at the
    canvas positions `logits_span`.
    """

    def cached(
        self,
        canvas: torch.Tensor,
        rows: torch.Tensor,
        span: tuple[int, int],
        logits_span: tuple[int, int],
        refresh: bool,
    ) -> torch.Tensor: ...


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
    is LLaDA's native module (`inputs_embeds`, `position_ids`, `logits_to_keep`, `logits_range`, and,
    for caching, `past_key_values` / `return_key_values`). Without padding no attention mask is
    passed, which leaves the fused attention kernels free to run (flash attention takes no mask).
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
        self.padded = bool((context_mask == 0).any())
        self._kept: Any = None
        self._kept_rows: torch.Tensor | None = None
        self._span_positions: torch.Tensor | None = None

    def _inputs(
        self, canvas: torch.Tensor, rows: torch.Tensor, with_unconditional: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        canvas_embeds = self.model.get_input_embeddings()(canvas)
        contexts = [self.context[rows]]
        if with_unconditional:
            if self.unconditional is None:
                raise ValueError("this denoiser was built without an unconditional context")
            contexts.append(self.unconditional[rows])
        embeds = torch.cat([torch.cat([c, canvas_embeds], dim=1) for c in contexts], dim=0)
        if not self.padded:
            positions = torch.arange(embeds.shape[1], device=embeds.device).expand(embeds.shape[0], -1)
            return embeds, None, positions
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
        if rows.shape[0] != self._kept_rows.shape[0]:
            # Rows are only ever dropped after a refresh, so a change shows in their number.
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
