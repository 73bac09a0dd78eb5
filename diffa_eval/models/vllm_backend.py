"""The vLLM backend for the audio chat presets (`--backend vllm`, optional extra `vllm`).

Prompts are rendered by the model's own transformers processor exactly as on the
transformers path (`hf_common.render_prompt`), then the whole batch goes to vLLM's offline
`LLM.generate` with each audio as multimodal data. The engine starts on the first batch,
with the engine options of the run's generation options (e.g. `-o tensor_parallel_size=2`).
vLLM is imported only here, and only when such a model is loaded.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, MissingDependencyError
from ..types import GenerationConfig, ModelOutput
from .base import GenerationRequest
from .hf_common import check_options, processor_sampling_rate, render_prompt, transformers_module
from .presets import VLLM, AudioChatPreset
from .profile import OptionSet, flag, integer, number, text

ENGINE_OPTIONS: dict[str, Any] = {
    "tensor_parallel_size": 1,
    "gpu_memory_utilization": 0.9,
    "max_model_len": None,
    "max_num_seqs": None,
    "dtype": "auto",
    "enforce_eager": False,
}
"""Generation options that configure the vLLM engine, with their defaults (None: vLLM's own)."""
ENGINE_OPTION_RULES = OptionSet(
    (
        integer("tensor_parallel_size", 1),
        number("gpu_memory_utilization", 0.0, 1.0, low_open=True),
        integer("max_model_len", 1),
        integer("max_num_seqs", 1),
        text("dtype", "a dtype name such as auto, bfloat16, float16"),
        flag("enforce_eager"),
    )
)


def import_vllm() -> Any:
    """The vllm package, or a MissingDependencyError that names the extra to install."""
    try:
        return importlib.import_module("vllm")
    except ImportError:
        raise MissingDependencyError("vllm", "vllm") from None


def engine_kwargs(checkpoint: str, config: GenerationConfig, audios_per_prompt: int = 1) -> dict[str, Any]:
    """`vllm.LLM` arguments: the checkpoint, the engine options set in `config.options`, one audio per prompt."""
    settings = {name: config.options.get(name, default) for name, default in ENGINE_OPTIONS.items()}
    if not isinstance(settings["tensor_parallel_size"], int) or settings["tensor_parallel_size"] < 1:
        raise ConfigError(f"tensor_parallel_size must be a positive integer, got {settings['tensor_parallel_size']!r}")
    return {
        "model": checkpoint,
        "trust_remote_code": False,
        "limit_mm_per_prompt": {"audio": audios_per_prompt},
        "seed": config.seed,
        **{name: value for name, value in settings.items() if value is not None},
    }


def sampling_kwargs(config: GenerationConfig) -> dict[str, Any]:
    """`vllm.SamplingParams` arguments equivalent to the transformers path: greedy at temperature 0."""
    sampling = {"temperature": config.temperature, "top_p": config.top_p if config.temperature > 0 else 1.0}
    return {**sampling, "max_tokens": config.max_new_tokens, "seed": config.seed, "n": 1}


def vllm_requests(
    processor: Any, requests: Sequence[GenerationRequest], system_prompt: str | None, sampling_rate: int
) -> list[dict[str, Any]]:
    """vLLM prompt dicts: the chat-formatted text with the model's audio placeholder, and the audio."""
    prompts: list[dict[str, Any]] = []
    for request in requests:
        prompt: dict[str, Any] = {"prompt": render_prompt(processor, request, system_prompt)}
        if request.audio is not None:
            prompt["multi_modal_data"] = {"audio": [(np.asarray(request.audio, dtype=np.float32), sampling_rate)]}
        prompts.append(prompt)
    return prompts


class VLLMAudioChat:
    """An audio chat preset served by a vLLM engine in this process."""

    options: tuple[str, ...] = tuple(ENGINE_OPTIONS)

    def __init__(self, preset: AudioChatPreset, checkpoint: str, device: str, processor: Any | None = None) -> None:
        if VLLM not in preset.backends:
            raise ConfigError(f"{preset.name} has no vllm backend")
        if device not in ("auto", "cuda") and not device.startswith("cuda"):
            raise ConfigError(f"the vllm backend runs on CUDA devices, not {device!r}")
        self._vllm = import_vllm()
        if processor is None:
            processor = transformers_module().AutoProcessor.from_pretrained(checkpoint)
        self.name = preset.name
        self.preset = preset
        self.checkpoint = checkpoint
        self.processor = processor
        self.device = "cuda"
        self.prompt_variants = preset.prompt_variants
        self.max_audio_seconds = preset.max_audio_seconds
        self.sampling_rate = processor_sampling_rate(processor)
        self._engine: Any = None
        self._engine_kwargs: dict[str, Any] | None = None

    def info(self) -> Mapping[str, Any]:
        return {
            "backend": VLLM,
            "checkpoint": self.checkpoint,
            "hub_id": self.preset.hub_id,
            "architecture": self.preset.architecture,
            "processor": type(self.processor).__name__,
            "system_prompt": self.preset.system_prompt,
            "vllm": getattr(self._vllm, "__version__", None),
        }

    def _engine_for(self, config: GenerationConfig) -> Any:
        wanted = engine_kwargs(self.checkpoint, config)
        if self._engine is None or wanted != self._engine_kwargs:
            self.close()
            self._engine = self._vllm.LLM(**wanted)
            self._engine_kwargs = wanted
        return self._engine

    def generate(self, requests: Sequence[GenerationRequest], config: GenerationConfig) -> list[ModelOutput]:
        check_options(config, self.options, VLLM)
        engine = self._engine_for(config)
        prompts = vllm_requests(self.processor, requests, self.preset.system_prompt, self.sampling_rate)
        start = time.perf_counter()
        results = engine.generate(prompts, self._vllm.SamplingParams(**sampling_kwargs(config)), use_tqdm=False)
        seconds = (time.perf_counter() - start) / len(requests)
        outputs = []
        for result in results:
            completion = result.outputs[0]
            n = len(completion.token_ids)
            outputs.append(ModelOutput(completion.text.strip(), n, n, seconds))
        return outputs

    def close(self) -> None:
        self._engine = None
        self._engine_kwargs = None
