"""The `diffa` model family: presets `diffa`, `diffa-2`, `diffa-2-asr` and the random `diffa-tiny`.

Decoding comes from the GenerationConfig: `max_new_tokens` is the answer length; options `steps` and
`block_length` (both default to it, as in every DIFFA script), `remasking`, `cfg_scale`, `decoding`
(a mode: `exact`, `threshold`, `factor`, `prefix-cache`, `dual-cache`, or a rule with a cache such as
`threshold+prefix-cache`), `factor`, `threshold`, `eos_stop`, `cache_refresh`, `logits_eos_inf`,
`confidence_eos_eot_inf`; and `compile` (a torch.compile mode such as `default` or `reduce-overhead`, or
`none`), which runs LLaDA's layers compiled (faster on a GPU once compiled; compiled kernels may round
differently). Options other adapters use are ignored. Each sample records its mode and
forward passes (`full_passes`: those over the whole sequence). The Whisper encoder hears at most
30 s (`max_audio_seconds`): the runner cuts longer clips to their first 30 s, as DIFFA's feature
extractor does, or skips them (`--long-audio`), and records it per sample. Base models:
`DIFFA_EVAL_LLADA` and `DIFFA_EVAL_WHISPER` name a folder or hub id that replaces the preset's LLaDA or
Whisper checkpoint.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...decoding import DiffusionSettings
from ...decoding.settings import REMASKING, parse_mode
from ...errors import ConfigError
from ...resample import SINC_HANN
from ...types import GenerationConfig, ModelOutput, ModelSpec
from ..base import GenerationRequest, too_short
from ..hf_common import check_options
from ..model_args import refuse_model_args
from ..profile import (
    CONFIG,
    TOKENIZER,
    WEIGHTS,
    ModelProfile,
    OptionSet,
    WeightSource,
    checked,
    choice,
    flag,
    integer,
    number,
)
from .llada import COMPILE_MODES
from .loading import LLADA_INSTRUCT, DiffaSources
from .pipeline import MAX_AUDIO_SECONDS, MIN_AUDIO_SAMPLES, SAMPLING_RATE, DiffaPipeline

LLADA_ENV = "DIFFA_EVAL_LLADA"
WHISPER_ENV = "DIFFA_EVAL_WHISPER"


def _check_mode(value: Any) -> None:
    parse_mode(str(value))


def _check_compile(value: Any) -> None:
    compile_mode({"compile": value})


OPTIONS = OptionSet(
    (
        integer("steps", 1),
        integer("block_length", 1),
        choice("remasking", REMASKING),
        number("cfg_scale", 0.0),
        checked("decoding", "a decoding mode (RULE, CACHE-cache or RULE+CACHE-cache)", _check_mode, str),
        number("factor", 0.0, low_open=True),
        number("threshold", 0.0, 1.0, low_open=True),
        flag("eos_stop"),
        integer("cache_refresh", 0),
        flag("logits_eos_inf"),
        flag("confidence_eos_eot_inf"),
        checked("compile", f"none or a torch.compile mode ({', '.join(COMPILE_MODES)})", _check_compile, (str, int)),
    )
)
"""The generation options DIFFA understands; any other is refused, so a typo never passes silently."""


@dataclass(frozen=True)
class DiffaPreset:
    """A published DIFFA model and how its authors decode it."""

    name: str
    checkpoint: str
    whisper: str
    stage: int
    prompt_variants: tuple[str, ...]
    decoding: str
    factor: float = 1.0
    random_weights: bool = False
    demo_steps: int | None = None
    """Denoising steps when neither steps nor block length is given (the random demo model only,
    so that long answers stay quick on a CPU); None: steps = answer length, as DIFFA decodes."""


PRESETS = {
    "diffa": DiffaPreset("diffa", "zhoujiaming777/DIFFA", "openai/whisper-small", 2, ("diffa",), "exact"),
    "diffa-2": DiffaPreset(
        "diffa-2", "zhoujiaming777/DIFFA-2", "openai/whisper-large-v3", 2, ("diffa-2", "diffa"), "factor"
    ),
    "diffa-2-asr": DiffaPreset(
        "diffa-2-asr", "zhoujiaming777/DIFFA-2/stage1", "openai/whisper-large-v3", 1, ("diffa-2-asr",), "factor"
    ),
    "diffa-tiny": DiffaPreset("diffa-tiny", "", "", 2, ("diffa",), "exact", random_weights=True, demo_steps=8),
}


def decoding_settings(config: GenerationConfig, preset: DiffaPreset) -> DiffusionSettings:
    """The sampler settings a GenerationConfig asks for, the preset's decoding mode by default."""
    check_options(config, OPTIONS.names, "diffa")
    options = config.options
    steps = _optional_int(options, "steps")
    if steps is None and preset.demo_steps and "block_length" not in options:
        steps = min(config.max_new_tokens, preset.demo_steps)
    eos_stop = options.get("eos_stop")
    try:
        return DiffusionSettings.from_mode(
            str(options.get("decoding", preset.decoding)),
            gen_length=config.max_new_tokens,
            steps=steps,
            block_length=_optional_int(options, "block_length"),
            temperature=config.temperature,
            cfg_scale=float(options.get("cfg_scale", 0.0)),
            remasking=str(options.get("remasking", "low_confidence")),
            factor=float(options.get("factor", preset.factor)),
            threshold=float(options.get("threshold", 0.9)),
            eos_stop=None if eos_stop is None else _flag(options, "eos_stop"),
            cache_refresh=int(options.get("cache_refresh", 0)),
            logits_eos_inf=_flag(options, "logits_eos_inf"),
            confidence_eos_eot_inf=_flag(options, "confidence_eos_eot_inf"),
        )
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid DIFFA decoding option: {error}") from error


def describe_options(options: Mapping[str, Any], preset: DiffaPreset) -> str:
    """A short label for decoding options that differ from the preset's, the rule's parameter resolved:
    e.g. {"decoding": "threshold+dual-cache"} -> "threshold+dual-cache τ=0.9"."""
    rest = dict(options)
    mode = str(rest.pop("decoding", preset.decoding))
    rule = mode.partition("+")[0]
    parts = [mode] if "decoding" in options else []
    if rule == "threshold" and ("decoding" in options or "threshold" in options):
        parts.append(f"τ={float(rest.pop('threshold', 0.9)):g}")
    if rule == "factor" and ("decoding" in options or "factor" in options):
        parts.append(f"f={float(rest.pop('factor', preset.factor)):g}")
    parts += [f"{key}={value}" for key, value in sorted(rest.items())]
    return " ".join(parts)


def compile_mode(options: Mapping[str, Any]) -> str | None:
    """The torch.compile mode the `compile` option asks for (`true`: `default`), None for eager."""
    value = options.get("compile", "none")
    text = str(value).strip().lower()
    if value is False or text in ("none", "false", "0"):
        return None
    if value is True or text in ("true", "1"):
        return "default"
    if text not in COMPILE_MODES:
        raise ConfigError(f"DIFFA option compile must be none or one of {', '.join(COMPILE_MODES)}; got {value!r}")
    return text


def _flag(options: Mapping[str, Any], key: str) -> bool:
    """A yes/no option: true/false (any case), 1/0 or a boolean; anything else is refused."""
    value = options.get(key, False)
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f"DIFFA option {key} must be true or false, got {value!r}")


def _optional_int(options: Mapping[str, Any], key: str) -> int | None:
    value = options.get(key)
    return None if value is None else int(value)


def sample_seed(seed: int, sample_id: str) -> int:
    """A sampling seed that depends only on the run seed and the sample id, never on batching."""
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{sample_id}".encode()).digest()[:8], "big") >> 1


class DiffaAdapter:
    """A loaded DIFFA model behind the ModelAdapter interface; one batch = one sampler run."""

    sampling_rate = SAMPLING_RATE
    resampler = SINC_HANN
    """DIFFA's evaluation scripts resample with torchaudio's default windowed sinc; so does the runner."""
    min_audio_samples = MIN_AUDIO_SAMPLES

    def __init__(
        self,
        preset: DiffaPreset,
        pipeline: DiffaPipeline,
        sources: DiffaSources | None,
        device: str,
        model_args: Mapping[str, Any] | None = None,
    ) -> None:
        self.preset = preset
        self.model_args = dict(model_args or {})
        self.name = preset.name
        self.pipeline = pipeline
        self.sources = sources
        self.device = device
        self.prompt_variants = preset.prompt_variants
        self.max_audio_seconds = MAX_AUDIO_SECONDS
        self.compiled: str | None = None

    def describe_options(self, options: Mapping[str, Any]) -> str:
        """A leaderboard label for a run's decoding options (see `describe_options`)."""
        return describe_options(options, self.preset)

    def info(self) -> Mapping[str, Any]:
        facts: dict[str, Any] = {
            "kind": "diffa",
            "preset": self.preset.name,
            "stage": self.pipeline.stage,
            "default_decoding": self.preset.decoding,
            "llm_dtype": str(self.pipeline.llm.get_input_embeddings().weight.dtype).removeprefix("torch."),
            "device": str(self.pipeline.device),
        }
        if self.sources is not None:
            facts.update(checkpoint=self.sources.checkpoint, whisper=self.sources.whisper, llm=self.sources.llm)
        if self.preset.random_weights:
            facts["weights"] = "random (tiny demo model)"
        if self.model_args:
            facts["model_args"] = self.model_args
        return facts

    def generate(self, requests: Sequence[GenerationRequest], config: GenerationConfig) -> list[ModelOutput]:
        settings = decoding_settings(config, self.preset)
        compiled = compile_mode(config.options)
        if compiled != self.compiled:
            self.pipeline.llm.compile_layers(compiled)
            self.compiled = compiled
        outputs: list[ModelOutput | None] = [None] * len(requests)
        ready: list[tuple[int, GenerationRequest, dict[str, Any]]] = []
        for index, request in enumerate(requests):
            if request.audio is None or len(request.audio) == 0:
                outputs[index] = ModelOutput.failure("DIFFA needs audio and this sample has none")
                continue
            short = too_short(len(request.audio), MIN_AUDIO_SAMPLES, SAMPLING_RATE)
            if short is not None:
                outputs[index] = ModelOutput.failure(short)
                continue
            details: dict[str, Any] = {"decoding": settings.to_dict()}
            if compiled is not None:
                details["compile"] = compiled
            ready.append((index, request, details))
        if ready:
            generators = None
            if settings.temperature > 0 or settings.remasking == "random":
                import torch

                generators = [
                    torch.Generator(self.pipeline.device).manual_seed(sample_seed(config.seed, r.sample_id))
                    for _, r, _ in ready
                ]
            results = self.pipeline.generate(
                [np.asarray(r.audio, dtype=np.float32) for _, r, _ in ready],
                [r.prompt for _, r, _ in ready],
                settings,
                generators,
            )
            for (index, _, details), result in zip(ready, results, strict=True):
                outputs[index] = ModelOutput(
                    text=result.text,
                    generated_tokens=result.generated_tokens,
                    forward_passes=result.forward_passes,
                    seconds=result.encode_seconds + result.decode_seconds,
                    encode_seconds=result.encode_seconds,
                    decode_seconds=result.decode_seconds,
                    details={**details, **result.details},
                )
        return [output for output in outputs if output is not None]

    def close(self) -> None:
        del self.pipeline


def _device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def sources_for(preset: DiffaPreset, spec: ModelSpec) -> DiffaSources:
    """Where the preset's parts come from, after the spec's checkpoint and the environment overrides."""
    return DiffaSources(
        checkpoint=spec.checkpoint or preset.checkpoint,
        whisper=os.environ.get(WHISPER_ENV) or preset.whisper,
        llm=os.environ.get(LLADA_ENV) or LLADA_INSTRUCT,
        stage=preset.stage,
    )


def applied_model_args(spec: ModelSpec) -> dict[str, Any]:
    """The spec's model args, refused unless DIFFA applies them (only `dtype`)."""
    args = dict(spec.model_args)
    refuse_model_args(spec.name, args, ("dtype",), "DIFFA loads its parts itself; dtype sets its LLM's")
    return args


def llm_dtype(spec: ModelSpec) -> Any:
    """The LLM dtype the spec's model args ask for (`dtype`, the only one DIFFA applies); None: the default."""
    args = applied_model_args(spec)
    if args.get("dtype") in (None, "auto"):
        return None  # bfloat16 on GPUs, float32 on CPUs, as its authors run it
    import torch

    return getattr(torch, args["dtype"])


def _factory(preset_name: str) -> Any:
    def build(spec: ModelSpec, device: str) -> DiffaAdapter:
        from .loading import load_pipeline

        preset = PRESETS[preset_name]
        sources = sources_for(preset, spec)
        pipeline = load_pipeline(sources, _device(device), llm_dtype=llm_dtype(spec))
        return DiffaAdapter(preset, pipeline, sources, str(_device(device)), dict(spec.model_args))

    return build


def tiny(spec: ModelSpec, device: str) -> DiffaAdapter:
    """`diffa-tiny`: random weights; `diffa-tiny@SEED` picks another random draw."""
    from .tiny import tiny_pipeline

    resolved = _device(device)
    pipeline = tiny_pipeline(resolved, _tiny_seed(spec), llm_dtype=llm_dtype(spec))
    return DiffaAdapter(PRESETS["diffa-tiny"], pipeline, None, str(resolved), dict(spec.model_args))


def weight_sources(preset: DiffaPreset, spec: ModelSpec) -> tuple[WeightSource, ...]:
    """The three folders a published preset loads: its checkpoint, the Whisper encoder and LLaDA."""
    sources = sources_for(preset, spec)
    return (
        WeightSource(
            "DIFFA checkpoint", sources.checkpoint, (CONFIG, WEIGHTS), f"{preset.name}@PATH",
            str(spec) if spec.checkpoint else None, subfolder=True,
        ),
        WeightSource(
            "Whisper encoder", sources.whisper, (CONFIG, WEIGHTS), f"{WHISPER_ENV}=PATH",
            WHISPER_ENV if os.environ.get(WHISPER_ENV) else None, subfolder=True,
        ),
        WeightSource(
            "LLaDA backbone", sources.llm, (CONFIG, WEIGHTS, TOKENIZER), f"{LLADA_ENV}=PATH",
            LLADA_ENV if os.environ.get(LLADA_ENV) else None, subfolder=True,
        ),
    )  # fmt: skip


def profile(spec: ModelSpec) -> ModelProfile:
    """A DIFFA preset as planning sees it: its decoding options and, unless its weights are random, its folders."""
    preset = PRESETS[spec.name]
    applied_model_args(spec)
    if preset.random_weights:
        _tiny_seed(spec)
    sources = () if preset.random_weights else weight_sources(preset, spec)

    def check_generation(config: GenerationConfig) -> None:
        decoding_settings(config, preset)

    return ModelProfile(
        preset.name,
        "diffusion",
        SAMPLING_RATE,
        preset.prompt_variants,
        MAX_AUDIO_SECONDS,
        SINC_HANN,
        options=OPTIONS,
        sources=sources,
        check_generation=check_generation,
        describe_options=lambda options: describe_options(options, preset),
    )


def _tiny_seed(spec: ModelSpec) -> int:
    try:
        return int(spec.checkpoint or 0)
    except ValueError:
        raise ConfigError(f"diffa-tiny takes an integer seed as its checkpoint, got {spec.checkpoint!r}") from None


diffa = _factory("diffa")
diffa_2 = _factory("diffa-2")
diffa_2_asr = _factory("diffa-2-asr")
