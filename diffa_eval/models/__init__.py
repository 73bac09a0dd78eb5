"""The model registry. Entries are lazy import paths, so listing models never imports torch;
an entry's tags name the backends it runs on.

Third-party adapters register through the `diffa_eval.models` entry-point group: the entry
point names a factory `(ModelSpec, device) -> ModelAdapter`, or a module that calls
`MODELS.register` itself.
"""

from __future__ import annotations

from ..registry import Registry
from ..types import ModelSpec
from .base import GenerationRequest, ModelAdapter, ModelFactory

MODELS: Registry[ModelFactory] = Registry(
    "model",
    entry_point_group="diffa_eval.models",
    accept=lambda obj: None if callable(obj) else "a model entry must be a factory (ModelSpec, device)",
)

MODELS.register(
    "chance",
    "diffa_eval.models.baselines:ChanceModel",
    description="Random guess among the answer options, seeded per sample id (the random-guess row).",
    tags=("builtin",),
)
MODELS.register(
    "oracle",
    "diffa_eval.models.baselines:OracleModel",
    description="Returns the reference answer: upper bound and pipeline check.",
    tags=("builtin",),
)

MODELS.register(
    "diffa",
    "diffa_eval.models.diffa.adapter:diffa",
    description="DIFFA (v1): Whisper-small + adapters + LLaDA-8B-Instruct, exact masked-diffusion decoding.",
    tags=("transformers", "diffusion"),
)
MODELS.register(
    "diffa-2",
    "diffa_eval.models.diffa.adapter:diffa_2",
    description="DIFFA-2: Whisper-large-v3 + adapters + LLaDA-8B-Instruct with merged LoRA, factor-based decoding.",
    tags=("transformers", "diffusion"),
)
MODELS.register(
    "diffa-2-asr",
    "diffa_eval.models.diffa.adapter:diffa_2_asr",
    description="DIFFA-2's stage-1 ASR checkpoint (semantic adapter only), factor-based decoding.",
    tags=("transformers", "diffusion"),
)
MODELS.register(
    "diffa-tiny",
    "diffa_eval.models.diffa.adapter:tiny",
    description="A toy DIFFA with RANDOM weights (full architecture, tiny sizes): demos and tests only.",
    tags=("transformers", "diffusion"),
)


def load_model(spec: ModelSpec, device: str = "auto") -> ModelAdapter:
    """Build the adapter registered under `spec.name`."""
    factory = MODELS.get(spec.name)
    return factory(spec, device)


__all__ = ["MODELS", "GenerationRequest", "ModelAdapter", "ModelFactory", "load_model"]
