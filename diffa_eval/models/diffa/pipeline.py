"""DIFFA inference: prompts built as DIFFA builds them, audio spliced into the embeddings, batched decoding.

Each row is `[prompt up to "This is the audio: "] [audio embeddings] [rest of the prompt] [answer canvas]`,
left-padded to the longest row of the batch with padding masked out of attention and positions
counted from each row's first real token, so in float32 a row decodes the same alone or in any batch.
In bfloat16 a padded row's logits round differently and its answer may change; DIFFA decodes one
clip at a time, so batch size 1 reproduces it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ...decoding import ContextDenoiser, DiffusionSettings, sample
from .llada import LLaDAForMaskedDiffusion
from .modeling import DOWNSAMPLE, DiffaAudioEncoder

SYSTEM_PROMPT = "You are a helpful voice assistant."
AUDIO_PREFIX = "This is the audio: "
SAMPLING_RATE = 16_000
MAX_AUDIO_SECONDS = 30.0
HOP_LENGTH = 160
"""Samples per mel frame of Whisper's feature extractor (10 ms); a clip has ceil(samples / 160) real frames."""
MIN_AUDIO_SAMPLES = (2 * DOWNSAMPLE - 2) * HOP_LENGTH + 1
"""961 samples (60 ms): 7 mel frames, which the encoder halves to the 4 frames the semantic projector
needs for one token. DIFFA's own code fails on shorter clips too (a convolution over zero frames)."""


def chat_prompt(messages: Sequence[tuple[str, str]], add_generation_prompt: bool) -> str:
    """LLaDA's chat template as DIFFA writes it out by hand."""
    text = "<|startoftext|>"
    for role, content in messages:
        text += f"<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>"
    if add_generation_prompt:
        text += "<|start_header_id|>assistant<|end_header_id|>\n\n"
    return text


def split_prompt(tokenizer: Any, instruction: str, system_prompt: str = SYSTEM_PROMPT) -> tuple[list[int], list[int]]:
    """Token ids before and after the audio. The split point is DIFFA's: the token count of the chat
    text cut right after "This is the audio: ", minus one; `<audio>` stays in the text as plain words."""
    head = chat_prompt([("system", system_prompt), ("user", AUDIO_PREFIX)], add_generation_prompt=False)
    head = head.removesuffix("<|eot_id|>")
    full = chat_prompt([("system", system_prompt), ("user", f"{AUDIO_PREFIX}<audio>. {instruction}")], True)
    split = len(tokenizer(head)["input_ids"]) - 1
    ids = list(tokenizer(full)["input_ids"])
    return ids[:split], ids[split:]


@dataclass
class ClipResult:
    """One decoded answer and its costs; `encode_seconds`/`decode_seconds` are this clip's share of its batch."""

    text: str
    tokens: list[int]
    generated_tokens: int
    forward_passes: int
    encode_seconds: float
    decode_seconds: float
    details: dict[str, Any] = field(default_factory=dict)


class DiffaPipeline:
    """A loaded DIFFA: audio encoder + adapters, LLaDA backbone, tokenizer and Whisper feature extractor."""

    def __init__(
        self,
        audio: DiffaAudioEncoder,
        llm: LLaDAForMaskedDiffusion,
        tokenizer: Any,
        feature_extractor: Any,
        stage: int,
        device: torch.device,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> None:
        self.audio = audio.eval()
        self.llm = llm
        llm.eval()  # type: ignore[no-untyped-call]
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.stage = stage
        self.device = device
        self.system_prompt = system_prompt
        self.mask_id = int(llm.config.mask_token_id)
        self.eos_id = int(llm.config.eos_token_id)
        self.pad_id = self.eos_id  # DIFFA pads with EOS; padded positions are masked out anyway

    def features(self, audios: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[int]]:
        """Log-mel features padded (and, past 30 s, truncated) to 30 s, and each clip's real frame count."""
        extracted = self.feature_extractor(
            [np.asarray(a, dtype=np.float32) for a in audios],
            sampling_rate=SAMPLING_RATE,
            return_tensors="pt",
            return_attention_mask=True,
        )
        frames = [int(n) for n in extracted["attention_mask"].sum(dim=-1).tolist()]
        return extracted["input_features"], frames

    @torch.no_grad()
    def generate(
        self,
        audios: Sequence[np.ndarray],
        instructions: Sequence[str],
        settings: DiffusionSettings,
        generators: Sequence[torch.Generator] | None = None,
    ) -> list[ClipResult]:
        """Decode one answer per (audio, instruction) pair, all in one batch."""
        batch = len(audios)
        start = time.perf_counter()
        features, frames = self.features(audios)
        audio_dtype = next(self.audio.parameters()).dtype
        clips = self.audio.embed(features.to(self.device, audio_dtype), frames, self.stage)
        encoded = time.perf_counter()

        embed = self.llm.get_input_embeddings()
        llm_dtype = embed.weight.dtype
        rows, unconditional_rows, prefixes = [], [], []
        for clip, instruction in zip(clips, instructions, strict=True):
            before, after = split_prompt(self.tokenizer, instruction, self.system_prompt)
            # The row the reference ranks confidences over (it decides which tied token is committed):
            # DIFFA's exact sampler drops the audio positions from its logits, DIFFA-2's factor sampler
            # (and its threshold rule) keeps them as placeholder tokens. Each clip is decoded alone there.
            keeps_audio = settings.decoding != "exact" or settings.cache != "none"
            prefixes.append(len(before) + len(after) + (len(clip) if keeps_audio else 0))
            ids = torch.tensor(before + after, device=self.device, dtype=torch.long)
            text = embed(ids)
            clip = clip.to(llm_dtype)
            rows.append(torch.cat([text[: len(before)], clip, text[len(before) :]]))
            if settings.cfg_scale > 0:
                # LLaDA's unconditional branch masks the prompt tokens; DIFFA keeps the audio in it.
                masked = embed(torch.where(ids == self.mask_id, ids, torch.full_like(ids, self.mask_id)))
                unconditional_rows.append(torch.cat([masked[: len(before)], clip, masked[len(before) :]]))
        width = max(len(row) for row in rows)
        pad = embed(torch.tensor([self.pad_id], device=self.device))[0]
        context = torch.stack([torch.cat([pad.expand(width - len(r), -1), r]) for r in rows])
        context_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        unconditional = None
        if unconditional_rows:
            unconditional = torch.stack([torch.cat([pad.expand(width - len(r), -1), r]) for r in unconditional_rows])
        denoiser = ContextDenoiser(self.llm, context, context_mask, unconditional)
        result = sample(denoiser, batch, settings, device=self.device, generators=generators, prefix_lengths=prefixes)
        decoded = time.perf_counter()

        full_passes = result.full_passes or result.forward_passes
        outputs = []
        for row, tokens in enumerate(result.tokens.tolist()):
            outputs.append(
                ClipResult(
                    text=self.tokenizer.decode(tokens, skip_special_tokens=True).strip(),
                    tokens=tokens,
                    generated_tokens=answer_length(tokens, {self.eos_id, settings.eot_id}),
                    forward_passes=result.forward_passes[row],
                    encode_seconds=(encoded - start) / batch,
                    decode_seconds=(decoded - encoded) / batch,
                    # The stop rule shapes the pass counts: DIFFA-2 stops at EOS, Fast-dLLM never does.
                    details={"mode": settings.mode, "eos_stop": settings.stops_at_eos, "full_passes": full_passes[row]},
                )
            )
        return outputs


def answer_length(tokens: Sequence[int], stop_ids: set[int]) -> int:
    """Tokens before the first end-of-text or end-of-turn token (all of them if there is none)."""
    for index, token in enumerate(tokens):
        if token in stop_ids:
            return index
    return len(tokens)
