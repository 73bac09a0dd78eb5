"""What the transformers adapters and the vLLM backend share: device and dtype choice, option checks, token
counts, and the chat-template prompt and sampling rate both backends read from a processor."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from ..errors import ConfigError
from ..types import GenerationConfig
from .base import GenerationRequest
from .model_args import MODEL_ARG_KEYS


def transformers_module() -> Any:
    """The transformers package, untyped: model classes are looked up by name from the presets."""
    return importlib.import_module("transformers")


def resolve_device(device: str) -> str:
    """`auto` is the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    return device


def default_dtype(device: str) -> torch.dtype:
    """bfloat16 on accelerators (as the model cards run them), float32 on the CPU."""
    return torch.float32 if device == "cpu" else torch.bfloat16


def pretrained_kwargs(args: Mapping[str, Any], device: str) -> dict[str, Any]:
    """`from_pretrained` arguments of a model for its model args (`--model-args`) on the resolved `device`:
    the default dtype unless `dtype` is given, and the weights on `device` unless `device_map` places them."""
    kwargs: dict[str, Any] = {"dtype": args.get("dtype", default_dtype(device)), "device_map": device}
    kwargs.update({key: args[key] for key in MODEL_ARG_KEYS if key in args and key != "dtype"})
    return kwargs


def processor_kwargs(args: Mapping[str, Any]) -> dict[str, Any]:
    """`from_pretrained` arguments of a processor for its model's model args (the same files, the same code)."""
    return {key: args[key] for key in ("revision", "trust_remote_code") if key in args}


def placed_device(model: Any, device: str) -> str:
    """Where a loaded model's inputs go: `device`, or the first device of a `device_map` that spread it."""
    return str(getattr(model, "device", device))


def load_pretrained(
    checkpoint: str, model_class: Any, args: Mapping[str, Any], device: str
) -> tuple[Any, Any, dict[str, Any]]:
    """A model and its processor from the hub or a folder, loaded with its model args (`--model-args`) on
    the resolved `device`; with the facts about the load that the manifest records."""
    transformers = transformers_module()
    processor = transformers.AutoProcessor.from_pretrained(checkpoint, **processor_kwargs(args))
    model = model_class.from_pretrained(checkpoint, **pretrained_kwargs(args, device))
    facts: dict[str, Any] = {"checkpoint": checkpoint, "model_args": dict(args)}
    commit = getattr(model.config, "_commit_hash", None)
    if commit:  # the hub commit the files came from; None for a local folder
        facts["commit"] = commit
    return model, processor, facts


def check_options(config: GenerationConfig, known: Iterable[str], backend: str) -> None:
    """Reject generation options this backend does not understand, so a typo never passes silently."""
    known = set(known)
    unknown = sorted(set(config.options) - known)
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        named = ", ".join(unknown)
        raise ConfigError(f"the {backend} backend does not take the option(s) {named}; it takes {accepted}")


def sampling_kwargs(config: GenerationConfig) -> dict[str, Any]:
    """`generate` arguments for the decoding settings: greedy when the temperature is 0."""
    if config.temperature == 0:
        return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    return {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p, "top_k": None}


def generated_lengths(new_tokens: torch.Tensor, stop_ids: Iterable[int], pad_id: int | None) -> list[int]:
    """The answer tokens of each row: those before its first stop token, padding not counted (the
    definition DIFFA's outputs use too, so tokens/s compare across model families)."""
    stops = set(stop_ids)
    lengths = []
    for row in new_tokens.tolist():
        length = next((index for index, token in enumerate(row) if token in stops), None)
        if length is None:
            length = len(row)
            while length and pad_id is not None and row[length - 1] == pad_id:
                length -= 1
        lengths.append(length)
    return lengths


def stop_token_ids(generation_config: Any) -> list[int]:
    """The end-of-sequence ids of a model's generation config (an int, a list or None)."""
    eos = getattr(generation_config, "eos_token_id", None)
    if eos is None:
        return []
    return [int(eos)] if isinstance(eos, int) else [int(token) for token in eos]


def conversation(prompt: str, has_audio: bool, system_prompt: str | None) -> list[dict[str, Any]]:
    """The chat messages of one request: the audio first, then the instruction, as in the model cards."""
    content: list[dict[str, Any]] = [{"type": "audio"}] if has_audio else []
    content.append({"type": "text", "text": prompt})
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [*messages, {"role": "user", "content": content}]


def render_prompt(processor: Any, request: GenerationRequest, system_prompt: str | None) -> str:
    """The request as the model's chat template writes it, ending where the assistant's answer starts.

    Both backends use this text, so their outputs can be compared.
    """
    messages = conversation(request.prompt, request.audio is not None, system_prompt)
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    if not isinstance(text, str):
        raise ConfigError(f"the chat template of {type(processor).__name__} did not render to text")
    return text


def processor_sampling_rate(processor: Any) -> int:
    """The audio sampling rate the model's feature extractor expects."""
    extractor = getattr(processor, "feature_extractor", None) or getattr(processor, "audio_processor", None)
    rate = getattr(extractor, "sampling_rate", None)
    if not isinstance(rate, int):
        raise ConfigError(f"{type(processor).__name__} has no audio feature extractor with a sampling rate")
    return rate
