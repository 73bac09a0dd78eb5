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


def load_model(spec: ModelSpec, device: str = "auto") -> ModelAdapter:
    """Build the adapter registered under `spec.name`."""
    factory = MODELS.get(spec.name)
    return factory(spec, device)


__all__ = ["MODELS", "GenerationRequest", "ModelAdapter", "ModelFactory", "load_model"]
