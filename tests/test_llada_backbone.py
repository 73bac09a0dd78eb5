"""The native LLaDA backbone: checkpoint names, bidirectional attention, padding, and (opt-in) logits
equal to LLaDA's own modeling code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from diffa_eval.models.diffa.llada import LLaDAConfig, LLaDAForMaskedDiffusion, llada_to_native_name
from diffa_eval.models.diffa.tiny import tiny_llada_config

from .llada_references import import_llada_modeling


def tiny_backbone(seed: int = 0) -> LLaDAForMaskedDiffusion:
    torch.manual_seed(seed)
    model = LLaDAForMaskedDiffusion(LLaDAConfig.from_llada_config({**tiny_llada_config(), "embedding_size": 512}))
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.3)
    return model.eval()


def test_llada_checkpoint_names_map_onto_the_native_modules() -> None:
    assert llada_to_native_name("model.transformer.blocks.3.ff_proj.weight") == "model.layers.3.mlp.gate_proj.weight"
    assert (
        llada_to_native_name("model.transformer.blocks.0.attn_out.weight") == "model.layers.0.self_attn.o_proj.weight"
    )
    assert llada_to_native_name("model.transformer.ff_out.weight") == "lm_head.weight"
    assert llada_to_native_name("model.transformer.wte.weight") == "model.embed_tokens.weight"
    assert llada_to_native_name("something.else") is None


def test_attention_is_bidirectional() -> None:
    model = tiny_backbone()
    ids = torch.randint(0, 512, (1, 12))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 512
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits[0, 0], model(changed).logits[0, 0])


def test_left_padding_masked_out_leaves_the_logits_unchanged() -> None:
    model = tiny_backbone()
    ids = torch.randint(0, 512, (1, 10))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), ids], dim=1)
    mask = torch.tensor([[0, 0, 0] + [1] * 10])
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        alone = model(ids).logits
        batched = model(padded, attention_mask=mask, position_ids=positions).logits[:, 3:]
        last = model(ids, logits_to_keep=4).logits
    torch.testing.assert_close(batched, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last, alone[:, -4:])


REFERENCE = os.environ.get("DIFFA_EVAL_LLADA_MODELING")


@pytest.mark.skipif(not REFERENCE, reason="set DIFFA_EVAL_LLADA_MODELING to a folder with LLaDA's modeling code")
def test_logits_equal_llada_modeling_code() -> None:
    package = import_llada_modeling(Path(str(REFERENCE)))
    configuration, modeling = package.configuration_llada, package.modeling_llada
    raw = {**tiny_llada_config(), "embedding_size": 512, "vocab_size": 512, "init_device": "cpu"}
    raw.update(attention_dropout=0.0, residual_dropout=0.0, embedding_dropout=0.0)
    fields = configuration.ModelConfig.__dataclass_fields__
    torch.manual_seed(0)
    reference = modeling.LLaDAModel(configuration.ModelConfig(**{k: v for k, v in raw.items() if k in fields}))
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    native = LLaDAForMaskedDiffusion(LLaDAConfig.from_llada_config(raw)).eval()
    native.load_state_dict({llada_to_native_name(f"model.{k}"): v for k, v in reference.eval().state_dict().items()})
    ids = torch.randint(0, 512, (3, 40))
    with torch.no_grad():
        difference = (reference(ids).logits - native(ids).logits).abs().max().item()
    assert difference == 0.0  # the same float32 operations in the same order
