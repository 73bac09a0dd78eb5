"""Loading LLaDA-family reference code from a local copy (never vendored), for the opt-in parity tests:
LLaDA's modeling folder (the hub's or Fast-dLLM's) and Fast-dLLM's `llada/generate.py`, plus a tiny
reference backbone with the same weights on the native model."""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import torch

from diffa_eval.models.diffa.llada import LLaDAConfig, LLaDAForMaskedDiffusion, llada_to_native_name
from diffa_eval.models.diffa.tiny import tiny_llada_config


def import_llada_modeling(folder: Path, package: str = "llada_reference_modeling") -> types.ModuleType:
    """`folder` imported as a package (its modules import each other relatively); returns the package,
    whose `configuration_llada` and `modeling_llada` submodules are loaded."""
    if package not in sys.modules:
        spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        sys.modules[package] = importlib.util.module_from_spec(spec)
    module = sys.modules[package]
    for name in ("configuration_llada", "modeling_llada"):
        setattr(module, name, importlib.import_module(f"{package}.{name}"))
    return module


def import_fast_dllm_generate(path: Path) -> types.ModuleType:
    """Fast-dLLM's `llada/generate.py`, whose `from model.modeling_llada import ...` is served by the
    `model/` folder beside it."""
    package = import_llada_modeling(path.parent / "model", "fast_dllm_reference_model")
    saved = {name: sys.modules.get(name) for name in ("model", "model.modeling_llada")}
    sys.modules["model"], sys.modules["model.modeling_llada"] = package, package.modeling_llada
    try:
        spec = importlib.util.spec_from_file_location("fast_dllm_reference_generate", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    return module


class ReferenceLM:
    """LLaDA's reference `LLaDAModel` called as Fast-dLLM's generate functions call `LLaDAModelLM`:
    `.logits`, `.past_key_values`, `.device`."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.device = torch.device("cpu")

    def __call__(self, input_ids: torch.Tensor, **kwargs: Any) -> types.SimpleNamespace:
        output = self.model(input_ids, **kwargs)
        return types.SimpleNamespace(logits=output.logits, past_key_values=output.attn_key_values)


def twin_backbones(
    package: types.ModuleType, seed: int, vocab: int = 512, position_blind: bool = False, never_predict: int = -1
) -> tuple[Any, LLaDAForMaskedDiffusion]:
    """A tiny reference `LLaDAModel` from `package` and the native backbone with the same weights.
    `position_blind` zeroes the query and key projections, so attention is uniform and every masked
    position gets the same logits (their confidences tie exactly); `never_predict` zeroes that
    token's output row, so that it is (practically) never the argmax."""
    raw = {**tiny_llada_config(), "embedding_size": vocab, "vocab_size": vocab, "init_device": "cpu"}
    raw.update(attention_dropout=0.0, residual_dropout=0.0, embedding_dropout=0.0)
    fields = package.configuration_llada.ModelConfig.__dataclass_fields__
    torch.manual_seed(seed)
    reference = package.modeling_llada.LLaDAModel(
        package.configuration_llada.ModelConfig(**{k: v for k, v in raw.items() if k in fields})
    ).eval()
    with torch.no_grad():
        for name, parameter in reference.named_parameters():
            parameter.normal_(std=0.3)
            if position_blind and name.endswith(("q_proj.weight", "k_proj.weight")):
                parameter.zero_()
            if never_predict >= 0 and name == "transformer.ff_out.weight":
                parameter[never_predict] = 0.0
    native = LLaDAForMaskedDiffusion(LLaDAConfig.from_llada_config(raw)).eval()
    native.load_state_dict({llada_to_native_name(f"model.{k}"): v for k, v in reference.state_dict().items()})
    return reference, native
