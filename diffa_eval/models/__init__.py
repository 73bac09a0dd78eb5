"""The model registry. Entries are lazy import paths, so listing models never imports torch;
an entry's tags name the backends it runs on and its family (`profile.FAMILIES`).

Third-party adapters register through the `diffa_eval.models` entry-point group: the entry
point names a factory `(ModelSpec, device) -> ModelAdapter`, or a module that calls
`MODELS.register` itself. A factory with a `profile(spec)` attribute describes its model before it
loads (`profile.ModelProfile`); the built-in models' profiles are listed in `PROFILES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..errors import ConfigError, RegistryError
from ..registry import Registry, import_object
from ..types import ModelSpec
from .base import GenerationRequest, ModelAdapter, ModelFactory
from .model_args import check_model_args
from .presets import AUDIO_CHAT_PRESETS, BACKENDS, TRANSFORMERS, WHISPER_PRESETS
from .profile import FAMILIES, ModelProfile

MODELS: Registry[ModelFactory] = Registry(
    "model",
    entry_point_group="diffa_eval.models",
    accept=lambda obj: None if callable(obj) else "a model entry must be a factory (ModelSpec, device)",
)

MODELS.register(
    "chance",
    "diffa_eval.models.baselines:ChanceModel",
    description="Random guess among the answer options, seeded per sample id (the random-guess row).",
    tags=("baseline",),
)
MODELS.register(
    "oracle",
    "diffa_eval.models.baselines:OracleModel",
    description="Returns the reference answer: upper bound and pipeline check.",
    tags=("baseline",),
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
    description="A toy DIFFA with RANDOM weights (full architecture, tiny sizes, 8 denoising steps unless "
    "-o steps): demos and tests only.",
    tags=("transformers", "diffusion"),
)
for _preset in AUDIO_CHAT_PRESETS:
    _factory = "diffa_eval.models.audio_chat:load_audio_chat"
    if _preset.tiny:  # random weights, built in code
        _factory = "diffa_eval.models.tiny:load_tiny_audio_chat"
    _tags = (*_preset.backends, "autoregressive")
    MODELS.register(_preset.name, _factory, description=_preset.description, tags=_tags)
MODELS.register(
    "hf",
    "diffa_eval.models.audio_chat:load_hf",
    description="Any transformers audio chat model by hub id or folder (hf@OWNER/NAME, hf@/path): the class its "
    "config names, its own processor and chat template.",
    tags=(TRANSFORMERS, "autoregressive"),
)
for _whisper in WHISPER_PRESETS:
    _factory = "diffa_eval.models.whisper:load_whisper"
    MODELS.register(_whisper.name, _factory, description=_whisper.description, tags=(*_whisper.backends, "ASR"))

PROFILES: dict[str, str] = {
    **{name: "diffa_eval.models.diffa.adapter:profile" for name in ("diffa", "diffa-2", "diffa-2-asr", "diffa-tiny")},
    **{preset.name: "diffa_eval.models.audio_chat:profile" for preset in AUDIO_CHAT_PRESETS},
    **{preset.name: "diffa_eval.models.whisper:profile" for preset in WHISPER_PRESETS},
    "hf": "diffa_eval.models.audio_chat:hf_profile",
}
"""Built-in model name -> lazy path of the function `(ModelSpec) -> ModelProfile` that describes it (the
baselines' classes carry theirs)."""


def with_backend(spec: ModelSpec, backend: str | None) -> ModelSpec:
    """`spec` on `backend` (a spec's own `+BACKEND` wins), normalised so that a model's default
    backend is never spelled out: one model on one backend has exactly one identity.

    Models that declare no backend (e.g. the builtin baselines) run as they are.
    """
    entry = MODELS.entry(spec.name)  # an unknown name fails here
    requested = spec.backend or backend
    if requested is None:
        return spec
    if requested not in BACKENDS:
        raise ConfigError(f"unknown backend {requested!r}; backends: {', '.join(BACKENDS)}")
    offered = [tag for tag in entry.tags if tag in BACKENDS]
    if not offered:
        if spec.backend is not None:
            raise ConfigError(f"model {spec.name!r} does not run on a backend; drop '+{spec.backend}'")
        return spec
    if requested not in offered:
        raise ConfigError(f"model {spec.name!r} has no {requested} backend; its backends: {', '.join(offered)}")
    return replace(spec, backend=None if requested == offered[0] else requested)


def model_family(name: str) -> str | None:
    """The family an entry's tags name, None for a model that names none (e.g. a plugin's)."""
    return next((tag for tag in MODELS.entry(name).tags if tag in FAMILIES), None)


def model_backends(name: str) -> list[str]:
    """The backends an entry runs on, its default first; empty for a model that needs none (the baselines)."""
    return [tag for tag in MODELS.entry(name).tags if tag in BACKENDS]


def model_profile(spec: ModelSpec) -> ModelProfile | None:
    """How `spec`'s model describes itself before it loads, or None when it does not (it then takes any
    option and is planned once loaded)."""
    path = PROFILES.get(spec.name)
    describe = import_object(path) if path else getattr(MODELS.get(spec.name), "profile", None)
    if describe is None:
        return None
    profile = describe(spec)
    if not isinstance(profile, ModelProfile):
        raise RegistryError(f"model {spec.name!r}: profile() returned {type(profile).__name__}, not a ModelProfile")
    return profile


def with_model_args(spec: ModelSpec, args: Mapping[str, Any], allow_remote_code: bool = False) -> ModelSpec:
    """`spec` carrying the load settings `args` (`--model-args`), checked; `spec` must already have its backend
    (see `with_backend`). Models that declare no backend load no weights (e.g. the builtin baselines) and run
    as they are; a model on another backend than transformers refuses them."""
    if not args:
        return spec
    checked = check_model_args(args, allow_remote_code)
    offered = [tag for tag in MODELS.entry(spec.name).tags if tag in BACKENDS]
    if not offered:
        return spec
    if (spec.backend or offered[0]) != TRANSFORMERS:
        raise ConfigError(f"--model-args apply to transformers-backed models; {spec} runs on {spec.backend}")
    return replace(spec, model_args=tuple(sorted({**dict(spec.model_args), **checked}.items())))


def load_model(spec: ModelSpec, device: str = "auto") -> ModelAdapter:
    """Build the adapter registered under `spec.name`."""
    factory = MODELS.get(spec.name)
    return factory(spec, device)


__all__ = [
    "BACKENDS",
    "MODELS",
    "PROFILES",
    "GenerationRequest",
    "ModelAdapter",
    "ModelFactory",
    "ModelProfile",
    "load_model",
    "model_backends",
    "model_family",
    "model_profile",
    "with_backend",
    "with_model_args",
]
