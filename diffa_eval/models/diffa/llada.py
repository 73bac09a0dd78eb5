"""A transformers-native LLaDA: the bidirectional Llama-style mask predictor, no remote code.

`LLaDAConfig.from_llada_config` reads LLaDA's own `config.json` (OLMo-style keys: `d_model`,
`n_layers`, `mlp_hidden_size`, ...) and `llada_to_native_name` maps its checkpoint tensor names
(`model.transformer.blocks.N.q_proj.weight`, ...) onto this module tree
(`model.layers.N.self_attn.q_proj.weight`, ...). The computation follows LLaDA's "llama" block:
RMSNorm in float32, rotary embeddings in float32 (half-split rotation), full bidirectional
attention (a padding mask only), SwiGLU feed-forward, untied output head.

For cached decoding, `forward(return_key_values=True)` hands back every layer's keys and values
(rotated, per position) as an `LLaDAKVCache`, and `forward(past_key_values=cache)` runs only new
positions, each attending to the cached positions and to one another. Attention is bidirectional,
so the cached positions may sit anywhere in the sequence: their rotary positions travel with them.

One module on purpose, as transformers keeps each architecture in one modeling file: the config, the
checkpoint name mapping, the layers and the cache are read together whenever the model is checked
against LLaDA's own code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput

from ...errors import ConfigError

LLADA_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "ff_proj", "up_proj")
"""LLaDA module names that DIFFA-2's LoRA adapts."""

_BLOCK_RENAMES = {
    "attn_norm": "input_layernorm",
    "ff_norm": "post_attention_layernorm",
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "attn_out": "self_attn.o_proj",
    "ff_proj": "mlp.gate_proj",
    "up_proj": "mlp.up_proj",
    "ff_out": "mlp.down_proj",
}
_TOP_RENAMES = {
    "transformer.wte.weight": "model.embed_tokens.weight",
    "transformer.ln_f.weight": "model.norm.weight",
    "transformer.ln_f.bias": "model.norm.bias",
    "transformer.ff_out.weight": "lm_head.weight",
    "transformer.ff_out.bias": "lm_head.bias",
}
_BLOCK_NAME = re.compile(r"transformer\.blocks\.(\d+)\.(\w+)\.(weight|bias)$")


def llada_to_native_name(name: str) -> str | None:
    """This model's parameter name for a LLaDA checkpoint tensor name (with or without the leading
    `model.`), or None for names that are not LLaDA backbone tensors."""
    bare = name.removeprefix("model.")
    if bare in _TOP_RENAMES:
        return _TOP_RENAMES[bare]
    match = _BLOCK_NAME.fullmatch(bare)
    if match and match.group(2) in _BLOCK_RENAMES:
        layer, module, kind = match.groups()
        return f"model.layers.{layer}.{_BLOCK_RENAMES[module]}.{kind}"
    return None


def llada_module_to_native(layer: int, module: str) -> str:
    """The native path of one of LLaDA's per-block linear layers: (3, "ff_proj") -> "model.layers.3.mlp.gate_proj"."""
    if module not in _BLOCK_RENAMES:
        raise ConfigError(f"unknown LLaDA block module {module!r}")
    return f"model.layers.{layer}.{_BLOCK_RENAMES[module]}"


@dataclass
class LLaDAKVCache:
    """Per-layer keys and values (batch, kv_heads, positions, head_dim) of some positions of each row,
    with the padding mask (batch, positions), True where a position is attended to (None: all are).

    The last `room` positions of each buffer are left for the positions a cached pass computes: a
    pass over that many new positions writes their keys and values there and attends over the whole
    buffer, which holds the same keys in the same order as appending them would, without copying
    the whole cache at every pass."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    mask: torch.Tensor | None
    room: int = 0

    @property
    def length(self) -> int:
        """Positions kept (the room not counted)."""
        return int(self.keys[0].shape[2]) - self.room

    def select_rows(self, index: torch.Tensor) -> LLaDAKVCache:
        """The cache of rows `index` only."""
        mask = None if self.mask is None else self.mask[index]
        return LLaDAKVCache([k[index] for k in self.keys], [v[index] for v in self.values], mask, self.room)

    def without(self, start: int, stop: int) -> LLaDAKVCache:
        """The cache with positions [start, stop) left out (they will be recomputed at every step),
        and room for them at the end."""

        def cut(tensor: torch.Tensor, dim: int) -> torch.Tensor:
            before, after = tensor.narrow(dim, 0, start), tensor.narrow(dim, stop, tensor.shape[dim] - stop)
            # The room starts as a copy of the positions left out; the first cached pass overwrites it.
            return torch.cat([before, after, tensor.narrow(dim, start, stop - start)], dim=dim)

        mask = None if self.mask is None else cut(self.mask, 1)
        if mask is not None:
            mask[:, mask.shape[1] - (stop - start) :] = True
        return LLaDAKVCache([cut(k, 2) for k in self.keys], [cut(v, 2) for v in self.values], mask, stop - start)


@dataclass
class LLaDAOutput(MaskedLMOutput):
    """`MaskedLMOutput` plus, when asked for, the keys and values of the positions just computed."""

    key_values: LLaDAKVCache | None = None


class LLaDAConfig(PretrainedConfig):  # type: ignore[no-untyped-call]
    """Shape of the backbone, in transformers' usual names."""

    model_type = "llada_bidirectional"

    def __init__(
        self,
        vocab_size: int = 126464,
        hidden_size: int = 4096,
        intermediate_size: int = 12288,
        num_hidden_layers: int = 32,
        num_attention_heads: int = 32,
        num_key_value_heads: int | None = None,
        rope_theta: float = 500000.0,
        rms_norm_eps: float = 1e-5,
        attention_bias: bool = False,
        mlp_bias: bool = False,
        norm_bias: bool = False,
        input_embedding_norm: bool = False,
        scale_logits: bool = False,
        tie_word_embeddings: bool = False,
        mask_token_id: int = 126336,
        eos_token_id: int = 126081,
        pad_token_id: int = 126081,
        **kwargs: Any,
    ) -> None:
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads or num_attention_heads
        self.rope_theta = rope_theta
        self.rms_norm_eps = rms_norm_eps
        self.attention_bias = attention_bias
        self.mlp_bias = mlp_bias
        self.norm_bias = norm_bias
        self.input_embedding_norm = input_embedding_norm
        self.scale_logits = scale_logits
        self.mask_token_id = mask_token_id
        kwargs.update(tie_word_embeddings=tie_word_embeddings, eos_token_id=eos_token_id, pad_token_id=pad_token_id)
        super().__init__(**kwargs)

    @classmethod
    def from_llada_config(cls, raw: Mapping[str, Any]) -> LLaDAConfig:
        """Translate LLaDA's `config.json`; options this backbone does not implement are refused."""
        unsupported = {
            "block_type": ("llama", raw.get("block_type", "llama")),
            "layer_norm_type": ("rms", raw.get("layer_norm_type", "rms")),
            "activation_type": ("silu", raw.get("activation_type", "silu")),
            "rope": (True, raw.get("rope", True)),
            "alibi": (False, raw.get("alibi", False)),
            "attention_layer_norm": (False, raw.get("attention_layer_norm", False)),
            "layer_norm_with_affine": (True, raw.get("layer_norm_with_affine", True)),
            "block_group_size": (1, raw.get("block_group_size", 1)),
        }
        for key, (expected, got) in unsupported.items():
            if str(got) != str(expected):
                raise ConfigError(f"LLaDA config {key}={got!r} is not supported (expected {expected!r})")
        d_model = int(raw["d_model"])
        n_heads = int(raw["n_heads"])
        mlp_hidden = raw.get("mlp_hidden_size") or int(raw.get("mlp_ratio", 4)) * d_model
        include_bias = bool(raw.get("include_bias", False))
        n_kv_heads = raw.get("n_kv_heads")
        if n_kv_heads is None and raw.get("multi_query_attention"):
            n_kv_heads = 1
        return cls(
            vocab_size=int(raw.get("embedding_size") or raw["vocab_size"]),
            hidden_size=d_model,
            intermediate_size=int(mlp_hidden),
            num_hidden_layers=int(raw["n_layers"]),
            num_attention_heads=n_heads,
            num_key_value_heads=int(n_kv_heads) if n_kv_heads else n_heads,
            rope_theta=float(raw.get("rope_theta", 10000.0)),
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-5)),
            attention_bias=include_bias or bool(raw.get("include_qkv_bias", False)),
            mlp_bias=include_bias,
            norm_bias=bool(include_bias if raw.get("bias_for_layer_norm") is None else raw["bias_for_layer_norm"]),
            input_embedding_norm=bool(raw.get("input_emb_norm", False)),
            scale_logits=bool(raw.get("scale_logits", False)),
            tie_word_embeddings=bool(raw.get("weight_tying", False)),
            mask_token_id=int(raw.get("mask_token_id") or 126336),
            eos_token_id=int(raw.get("eos_token_id", 126081)),
            pad_token_id=int(raw.get("pad_token_id", 126081)),
        )


class LLaDARMSNorm(nn.Module):
    """RMSNorm normalised in float32 and cast back before the (weight-dtype) scale, as LLaDA does."""

    def __init__(self, size: int, eps: float, bias: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size)) if bias else None
        self.eps = eps

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        dtype = hidden.dtype
        as_float = hidden.to(torch.float32)
        normed = as_float * torch.rsqrt(as_float.pow(2).mean(-1, keepdim=True) + self.eps)
        result: torch.Tensor = self.weight * normed.to(dtype)
        return result if self.bias is None else result + self.bias


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
"""torch.compile's modes, for `LLaDAForMaskedDiffusion.compile_layers`."""


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def rotary_tables(position_ids: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, shape (batch, 1, seq, head_dim), computed in float32."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float) / head_dim))
    freqs = position_ids.to(torch.float)[..., None] * inv_freq
    angles = torch.cat((freqs, freqs), dim=-1)[:, None]
    return angles.cos(), angles.sin()


class LLaDAAttention(nn.Module):
    def __init__(self, config: LLaDAConfig) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        hidden, kv = config.hidden_size, self.num_kv_heads * self.head_dim
        self.q_proj = nn.Linear(hidden, hidden, bias=config.attention_bias)
        self.k_proj = nn.Linear(hidden, kv, bias=config.attention_bias)
        self.v_proj = nn.Linear(hidden, kv, bias=config.attention_bias)
        self.o_proj = nn.Linear(hidden, hidden, bias=config.mlp_bias)

    def forward(
        self,
        hidden: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        key_mask: torch.Tensor | None,
        past: tuple[torch.Tensor, torch.Tensor, int] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Attention output, and this call's own (rotated) keys and values. `past` holds keys and
        values attended to as well, with room for this call's at their end (see `LLaDAKVCache`)."""
        batch, length, _ = hidden.shape
        query = self.q_proj(hidden).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
        key = self.k_proj(hidden).view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        value = self.v_proj(hidden).view(batch, length, self.num_kv_heads, self.head_dim).transpose(1, 2)
        cos, sin = rotary
        query = (query.float() * cos + _rotate_half(query.float()) * sin).to(query.dtype)
        key = (key.float() * cos + _rotate_half(key.float()) * sin).to(key.dtype)
        own = (key, value)
        if past is not None:
            past_keys, past_values, room = past
            if room and room == length:
                past_keys[:, :, -room:] = key
                past_values[:, :, -room:] = value
                key, value = past_keys, past_values
            else:
                kept = past_keys.shape[2] - room
                key = torch.cat([past_keys[:, :, :kept], key], dim=2)
                value = torch.cat([past_values[:, :, :kept], value], dim=2)
        if self.num_kv_heads != self.num_heads:
            repeat = self.num_heads // self.num_kv_heads
            key = key.repeat_interleave(repeat, dim=1)
            value = value.repeat_interleave(repeat, dim=1)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=key_mask, is_causal=False)
        result: torch.Tensor = self.o_proj(attended.transpose(1, 2).reshape(batch, length, -1))
        return result, own


class LLaDAMLP(nn.Module):
    def __init__(self, config: LLaDAConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=config.mlp_bias)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.down_proj(F.silu(self.gate_proj(hidden)) * self.up_proj(hidden))
        return result


class LLaDALayer(nn.Module):
    def __init__(self, config: LLaDAConfig) -> None:
        super().__init__()
        self.input_layernorm = LLaDARMSNorm(config.hidden_size, config.rms_norm_eps, config.norm_bias)
        self.self_attn = LLaDAAttention(config)
        self.post_attention_layernorm = LLaDARMSNorm(config.hidden_size, config.rms_norm_eps, config.norm_bias)
        self.mlp = LLaDAMLP(config)

    def forward(
        self,
        hidden: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        key_mask: torch.Tensor | None,
        past: tuple[torch.Tensor, torch.Tensor, int] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        attended, own = self.self_attn(self.input_layernorm(hidden), rotary, key_mask, past)
        hidden = hidden + attended
        result: torch.Tensor = hidden + self.mlp(self.post_attention_layernorm(hidden))
        return result, own


def _run_layer(
    layer: LLaDALayer,
    hidden: torch.Tensor,
    rotary: tuple[torch.Tensor, torch.Tensor],
    key_mask: torch.Tensor | None,
    past: tuple[torch.Tensor, torch.Tensor, int] | None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One layer's call, a plain function so that one compiled graph serves every layer."""
    result: tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]] = layer(hidden, rotary, key_mask, past)
    return result


class LLaDABackbone(nn.Module):
    def __init__(self, config: LLaDAConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([LLaDALayer(config) for _ in range(config.num_hidden_layers)])
        self.norm = LLaDARMSNorm(config.hidden_size, config.rms_norm_eps, config.norm_bias)


class LLaDAForMaskedDiffusion(PreTrainedModel):
    """LLaDA's mask predictor. `forward` takes `input_ids` or `inputs_embeds`, an optional padding
    `attention_mask` (1 = attend) and `position_ids` (default 0..L-1), and returns `.logits`;
    `logits_to_keep=N` computes the output head on the last N positions only, `logits_range=(a, b)`
    on positions a..b-1. With `past_key_values` the inputs are new positions that also attend to the
    cached ones (`attention_mask` then covers the new positions only; `position_ids` are required);
    `return_key_values=True` adds `.key_values`, the cache of the positions just computed."""

    config_class = LLaDAConfig
    base_model_prefix = "model"
    _no_split_modules = ["LLaDALayer"]  # noqa: RUF012 - transformers declares it as an instance attribute

    def __init__(self, config: LLaDAConfig) -> None:
        super().__init__(config)
        self.model = LLaDABackbone(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=config.mlp_bias)
        self.run_layer: Any = _run_layer
        self.post_init()  # type: ignore[no-untyped-call]

    def compile_layers(self, mode: str | None = "default", backend: str = "inductor") -> None:
        """Run every layer through `torch.compile` (`mode`: one of `COMPILE_MODES`; None: eager again).
        Shapes are dynamic, since the sequence length changes from pass to pass; the layers run the
        same code on different weights, so one compiled graph per kind of pass (full or cached, with
        or without padding) serves all of them, and the first passes of each kind pay for compiling.
        Compiled kernels may round differently from eager ones."""
        if mode is None:
            self.run_layer = _run_layer
            return
        if mode not in COMPILE_MODES:
            raise ConfigError(f"compile mode must be one of {', '.join(COMPILE_MODES)}; got {mode!r}")
        self.run_layer = torch.compile(
            _run_layer, dynamic=True, backend=backend, mode=None if mode == "default" else mode
        )

    def get_input_embeddings(self) -> nn.Embedding:
        embeddings: nn.Embedding = self.model.embed_tokens
        return embeddings

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.embed_tokens = value

    def get_output_embeddings(self) -> nn.Linear:
        head: nn.Linear = self.lm_head
        return head

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, LLaDARMSNorm):
            nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        logits_to_keep: int = 0,
        past_key_values: LLaDAKVCache | None = None,
        return_key_values: bool = False,
        logits_range: tuple[int, int] | None = None,
        **_: Any,
    ) -> LLaDAOutput:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        hidden = self.model.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        if self.config.input_embedding_norm:
            hidden = hidden * (self.config.hidden_size**0.5)
        batch, length = hidden.shape[:2]
        if position_ids is None:
            if past_key_values is not None:
                raise ValueError("position_ids are required with past_key_values")
            position_ids = torch.arange(length, device=hidden.device).unsqueeze(0).expand(batch, -1)
        rotary = rotary_tables(
            position_ids, self.config.hidden_size // self.config.num_attention_heads, self.config.rope_theta
        )
        own_mask = None if attention_mask is None else attention_mask.to(torch.bool)
        attend = own_mask
        if past_key_values is not None:
            attend = self._past_mask(past_key_values, own_mask, batch, length, hidden.device)
        # No mask at all without padding (never a test of the mask's values, which would wait for the
        # accelerator): flash attention runs only without one.
        key_mask = None if attend is None else attend[:, None, None, :]
        keys, values = [], []
        for index, layer in enumerate(self.model.layers):
            past = None
            if past_key_values is not None:
                past = (past_key_values.keys[index], past_key_values.values[index], past_key_values.room)
            hidden, (key, value) = self.run_layer(layer, hidden, rotary, key_mask, past)
            if return_key_values:
                keys.append(key)
                values.append(value)
        if logits_range is not None:
            hidden = hidden[:, logits_range[0] : logits_range[1]]
        elif logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        hidden = self.model.norm(hidden)
        if self.config.tie_word_embeddings:
            logits = F.linear(hidden, self.model.embed_tokens.weight)
        else:
            logits = self.lm_head(hidden)
        if self.config.scale_logits:
            logits = logits * (1 / self.config.hidden_size**0.5)
        key_values = LLaDAKVCache(keys, values, own_mask) if return_key_values else None
        return LLaDAOutput(logits=logits, key_values=key_values)

    @staticmethod
    def _past_mask(
        past: LLaDAKVCache, own: torch.Tensor | None, batch: int, length: int, device: torch.device
    ) -> torch.Tensor | None:
        """The key mask of a pass over `length` new positions (padding mask `own`) against `past`."""
        if past.room and past.room == length and own is None:
            return past.mask
        if past.mask is None and own is None:
            return None
        kept = torch.ones(batch, past.length, dtype=torch.bool, device=device) if past.mask is None else past.mask
        new = torch.ones(batch, length, dtype=torch.bool, device=device) if own is None else own
        return torch.cat([kept[:, : past.length], new], dim=1)

