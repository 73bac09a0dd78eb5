"""A run's generation settings, how they differ from the model's default run of the task (its variant), and the
settings it was asked for (its leaderboard row)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..describe import VariantInfo
from ..models.base import DescribedModel
from ..task import PromptVariant, Task
from ..types import GenerationConfig


def run_generation(task: Task, variant: PromptVariant, overrides: Mapping[str, Any], seed: int) -> GenerationConfig:
    """The generation settings of one run: the task's, then the prompt variant's, then the user's."""
    base = task.generation_for(variant)
    changes = dict(overrides)
    options = {**base.options, **(changes.pop("options", None) or {})}
    return base.replace(**changes, seed=seed, options=options)


def variant_info(
    adapter: DescribedModel,
    task: Task,
    variant: PromptVariant,
    generation: GenerationConfig,
    model_args: Mapping[str, Any] | None = None,
) -> VariantInfo:
    """How a run's settings differ from the model's default run of the task (its preferred prompt variant, the
    task's and that variant's generation settings, seed 0, no model args), with a short label for leaderboard
    rows; `model_args` are the model's load settings that change its outputs (`--model-args dtype=...`)."""
    preferred = task.select_prompt(getattr(adapter, "prompt_variants", ()))
    default = run_generation(task, preferred, {}, 0).to_dict()
    chosen = generation.to_dict()
    settings: dict[str, Any] = {}
    if variant.name != preferred.name:
        settings["prompt"] = variant.name
    for name in ("max_new_tokens", "temperature", "top_p", "seed"):
        if chosen[name] != default[name]:
            settings[name] = chosen[name]
    options = {k: v for k, v in chosen["options"].items() if k not in default["options"] or default["options"][k] != v}
    if options:
        settings["options"] = options
    if model_args:
        settings["model_args"] = dict(model_args)
    describe = getattr(adapter, "describe_options", None)
    return VariantInfo(settings, variant_label(settings, describe))


def asked_variant(
    overrides: Mapping[str, Any],
    prompt: str | None,
    seed: int,
    model_args: Mapping[str, Any] | None = None,
    adapter: DescribedModel | None = None,
) -> VariantInfo:
    """The settings a run was asked for, as given (the generation overrides, a forced prompt variant, a
    seed other than 0, the model args that change outputs), with their label: the run's leaderboard row."""
    settings: dict[str, Any] = {}
    if prompt is not None:
        settings["prompt"] = prompt
    for name in ("max_new_tokens", "temperature", "top_p"):
        if overrides.get(name) is not None:
            settings[name] = overrides[name]
    if seed:
        settings["seed"] = seed
    if overrides.get("options"):
        settings["options"] = dict(overrides["options"])
    if model_args:
        settings["model_args"] = dict(model_args)
    return VariantInfo(settings, variant_label(settings, getattr(adapter, "describe_options", None)))


def variant_label(settings: Mapping[str, Any], describe_options: Any = None) -> str:
    """A short text for the distinguishing settings, e.g. "threshold+dual-cache τ=0.9, prompt diffa";
    `describe_options` (an adapter's, optional) writes its own options, e.g. a decoding mode with its parameters."""
    parts = []
    options = settings.get("options")
    if options:
        text = describe_options(options) if describe_options is not None else None
        parts.append(text or " ".join(f"{key}={_short(value)}" for key, value in sorted(options.items())))
    if "prompt" in settings:
        parts.append(f"prompt {settings['prompt']}")
    model_args = settings.get("model_args")
    if model_args:
        parts.append(" ".join(f"{key}={value}" for key, value in sorted(model_args.items())))
    for name, label in _SETTING_LABELS:
        if name in settings:
            parts.append(f"{label}{_short(settings[name])}")
    return ", ".join(parts)


_SETTING_LABELS = (("max_new_tokens", "max tokens "), ("temperature", "T="), ("top_p", "top-p "), ("seed", "seed "))


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
