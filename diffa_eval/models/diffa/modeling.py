"""DIFFA's audio side: the Whisper encoder with layer taps, the acoustic Q-Former and the semantic projector.

Module and parameter names match DIFFA's checkpoints (`acoustic_connector.*`, `semantic_connector.*`,
`trainable_prompts.*`), so adapter weights load by name. Per clip, stage 2 yields 64 acoustic tokens
(one set of learned queries per tapped Whisper layer, a shared 2-layer BERT with cross-attention over
all 1500 frames, a per-query softmax over layers) followed by the semantic tokens (the final Whisper
states cut to the clip's real length, 4x downsampled: 12.5 per second). Stage 1 (ASR alignment)
yields 20 learned prompt embeddings followed by the semantic tokens.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertConfig, WhisperConfig
from transformers.models.bert.modeling_bert import BertEncoder
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from ...errors import CheckpointError

ACOUSTIC_LAYERS = {
    "openai/whisper-tiny": (0, 1, 2, 3),
    "openai/whisper-small": (2, 5, 8, 11),
    "openai/whisper-medium": (5, 11, 17, 23),
    "openai/whisper-large-v3": (3, 7, 11, 15, 19, 23, 27, 31),
}
"""Whisper hidden-state indices (0 = embeddings, k = output of layer k-1) the Q-Former reads, by the
Whisper id DIFFA's config names."""

STAGE1_PROMPTS = 20
DOWNSAMPLE = 4


@dataclass(frozen=True)
class DiffaArchitecture:
    """The shapes a DIFFA checkpoint implies, read from its `config.json`."""

    whisper: WhisperConfig
    llm_hidden_size: int
    acoustic_layers: tuple[int, ...]
    prompt_size: int = 64

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> DiffaArchitecture:
        whisper_raw = dict(raw.get("whisper_config") or {})
        llm_raw = raw.get("llm_config") or {}
        if not whisper_raw or "d_model" not in llm_raw:
            raise CheckpointError("DIFFA config.json needs whisper_config and llm_config.d_model")
        whisper_id = str(raw.get("whisper_model_id", "openai/whisper-small"))
        layers = raw.get("acoustic_layer_ids") or ACOUSTIC_LAYERS.get(whisper_id)
        if layers is None:
            raise CheckpointError(
                f"DIFFA config names whisper_model_id {whisper_id!r}, whose Q-Former layer taps are unknown "
                f"(known: {', '.join(ACOUSTIC_LAYERS)}); add acoustic_layer_ids to config.json"
            )
        return cls(
            whisper=WhisperConfig(**whisper_raw),
            llm_hidden_size=int(llm_raw["d_model"]),
            acoustic_layers=tuple(int(layer) for layer in layers),
            prompt_size=int(raw.get("prompt_size", 64)),
        )


class AcousticQFormer(nn.Module):
    """DIFFA's `QformerConnector`: per tapped layer, learned queries read that layer through a shared BERT."""

    def __init__(self, whisper: WhisperConfig, llm_hidden_size: int, layers: Sequence[int], prompt_size: int) -> None:
        super().__init__()
        self.target_layer_ids = tuple(layers)
        d_model = whisper.d_model
        self.layer_prompts = nn.ParameterList(
            [nn.Parameter(torch.randn(1, prompt_size, d_model)) for _ in self.target_layer_ids]
        )
        self.layer_weights = nn.Parameter(torch.zeros(prompt_size, len(self.target_layer_ids)))
        config = BertConfig(
            num_hidden_layers=2,
            num_attention_heads=whisper.encoder_attention_heads,
            hidden_size=d_model,
            add_cross_attention=True,
            is_decoder=True,
        )
        config._attn_implementation = "eager"
        self.qformer = BertEncoder(config)  # type: ignore[no-untyped-call]
        # DIFFA calls the encoder without a mask, so the queries attend to each other freely; newer
        # transformers would read is_decoder as "causal" when no mask is given.
        for module in self.qformer.modules():
            if hasattr(module, "is_causal"):
                setattr(module, "is_causal", False)  # noqa: B010 - not every module type declares it
        self.proj = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, llm_hidden_size))

    def forward(self, hidden_states: Sequence[torch.Tensor]) -> torch.Tensor:
        outputs = []
        for prompt, layer in zip(self.layer_prompts, self.target_layer_ids, strict=True):
            states = hidden_states[layer]
            queries = prompt.expand(states.shape[0], -1, -1)
            outputs.append(self.qformer(hidden_states=queries, encoder_hidden_states=states).last_hidden_state)
        stacked = torch.stack(outputs, dim=0).permute(1, 2, 0, 3)  # batch, query, layer, d_model
        weights = F.softmax(self.layer_weights, dim=-1).unsqueeze(-1)
        result: torch.Tensor = self.proj((stacked * weights).sum(dim=2))
        return result


class SemanticProjector(nn.Module):
    """DIFFA's `WhisperProjector`: 4x temporal downsampling by a strided convolution, then an MLP."""

    def __init__(self, in_dim: int, out_dim: int, rate: int = DOWNSAMPLE) -> None:
        super().__init__()
        self.rate = rate
        self.conv = nn.Sequential(
            nn.Conv1d(in_dim, in_dim, kernel_size=3, padding=1),
            nn.GELU(),
            nn.Conv1d(in_dim, in_dim * rate, kernel_size=3, stride=rate, padding=1),
        )
        self.linear_connector = nn.Sequential(
            nn.Linear(in_dim * rate, in_dim), nn.ReLU(), nn.Linear(in_dim, out_dim), nn.ReLU()
        )
        self.layernorm = nn.LayerNorm(out_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        usable = frames.shape[1] - frames.shape[1] % self.rate  # frames that do not fill a group are dropped
        x = self.conv(frames[:, :usable].transpose(1, 2)).transpose(1, 2)
        result: torch.Tensor = self.layernorm(self.linear_connector(x))
        return result


def _layer_call_arguments(layer: nn.Module) -> dict[str, Any]:
    parameters = inspect.signature(layer.forward).parameters
    return {"layer_head_mask": None} if "layer_head_mask" in parameters else {}


class DiffaAudioEncoder(nn.Module):
    """Whisper encoder plus DIFFA's adapters; `embed` turns log-mel features into LLM-width embeddings."""

    def __init__(self, architecture: DiffaArchitecture) -> None:
        super().__init__()
        self.architecture = architecture
        whisper = architecture.whisper
        self.whisper_model = WhisperEncoder(whisper)
        self.trainable_prompts = nn.Embedding(STAGE1_PROMPTS, architecture.llm_hidden_size)
        self.semantic_connector = SemanticProjector(whisper.d_model, architecture.llm_hidden_size)
        self.acoustic_connector = AcousticQFormer(
            whisper, architecture.llm_hidden_size, architecture.acoustic_layers, architecture.prompt_size
        )

    @property
    def input_frames(self) -> int:
        """Mel frames Whisper expects: 30 s."""
        return int(self.architecture.whisper.max_source_positions) * 2

    def whisper_states(self, features: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """All hidden states (embeddings, then each layer's output) and the final, normalised states."""
        encoder = self.whisper_model
        if features.shape[-1] != self.input_frames:
            raise ValueError(f"Whisper expects {self.input_frames} mel frames, got {features.shape[-1]}")
        x = F.gelu(encoder.conv1(features))
        x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
        x = x + encoder.embed_positions.weight[: x.shape[1]]
        states = [x]
        extra = _layer_call_arguments(encoder.layers[0]) if len(encoder.layers) else {}
        for layer in encoder.layers:
            output = layer(x, attention_mask=None, **extra)
            x = output[0] if isinstance(output, tuple) else output
            states.append(x)
        return states, encoder.layer_norm(x)

    def embed(self, features: torch.Tensor, frame_counts: Sequence[int], stage: int) -> list[torch.Tensor]:
        """Audio embeddings per clip (lengths differ); `frame_counts` are the real mel frames of each clip."""
        states, final = self.whisper_states(features)
        lengths = [(count - 1) // 2 + 1 for count in frame_counts]
        semantic = [self.semantic_connector(final[i : i + 1, :length])[0] for i, length in enumerate(lengths)]
        if stage == 1:
            prompts = self.trainable_prompts.weight
            return [torch.cat([prompts, tokens], dim=0) for tokens in semantic]
        acoustic = self.acoustic_connector(states)
        return [torch.cat([acoustic[i], tokens], dim=0) for i, tokens in enumerate(semantic)]
