"""What a model says about itself before it loads: its family, the options it takes, the weights it needs.

A registered model may describe itself with a `ModelProfile` (its factory's `profile(spec)`, or the
built-in models' entries in `diffa_eval.models`). With it a run checks every `-o` option against what
the model takes (`OptionSet`: unknown names get a "did you mean", values are parsed and range-checked),
finds the model's weights before any model loads (`WeightSource`, see `diffa_eval.models.sources`), and
plans its run directories without loading it (`UnloadedModel`, for `run --dry-run`). A model without a
profile is given whatever `-o` says and is planned only once it has loaded.

This module imports no torch, so that describing models stays instant.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..resample import DEFAULT_RESAMPLER
from ..types import GenerationConfig, ModelSpec

FAMILIES = ("diffusion", "autoregressive", "ASR", "baseline")
"""What kind of model an entry is; `list models` shows it (ASR: speech recognition only)."""

CONFIG = "config"
WEIGHTS = "weights"
PROCESSOR = "processor"
TOKENIZER = "tokenizer"


@dataclass(frozen=True)
class Option:
    """One generation option a model takes: its name, what values it accepts (`rule`, read by people)
    and `accepts(value)`, which says whether a value is one of them."""

    name: str
    rule: str
    accepts: Callable[[Any], bool]
    check: Callable[[Any], None] | None = None
    """Raises ConfigError with its own message for a value `accepts` cannot judge alone (e.g. a mode name)."""


def integer(name: str, minimum: int) -> Option:
    """A whole number >= `minimum` (a JSON integer, not a boolean)."""
    return Option(name, f"an integer >= {minimum}", lambda v: _is_int(v) and v >= minimum)


def number(name: str, low: float, high: float | None = None, *, low_open: bool = False) -> Option:
    """A finite number in [low, high] (or (low, high] with `low_open`); no upper bound when `high` is None."""
    if high is None:
        rule = f"a number > {low:g}" if low_open else f"a number >= {low:g}"
    else:
        rule = f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"

    def accepts(value: Any) -> bool:
        if not _is_number(value):
            return False
        above = value > low if low_open else value >= low
        return above and (high is None or value <= high)

    return Option(name, rule, accepts)


def flag(name: str) -> Option:
    """Yes or no: true/false (any case, as JSON or text), 1/0."""
    return Option(name, "true or false", _is_flag)


def choice(name: str, values: Sequence[str]) -> Option:
    """One of `values` (text)."""
    return Option(name, "one of " + ", ".join(values), lambda v: isinstance(v, str) and v in values)


def text(name: str, rule: str = "a non-empty text") -> Option:
    return Option(name, rule, lambda v: isinstance(v, str) and bool(v.strip()))


def checked(name: str, rule: str, check: Callable[[Any], None], kinds: type | tuple[type, ...] = object) -> Option:
    """A value of one of `kinds` that `check` judges, raising ConfigError with a message that says what is accepted."""
    return Option(name, rule, lambda v: isinstance(v, kinds), check)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_flag(value: Any) -> bool:
    if isinstance(value, bool) or (_is_int(value) and value in (0, 1)):
        return True
    return isinstance(value, str) and value.strip().lower() in ("true", "false")


@dataclass(frozen=True)
class OptionSet:
    """The generation options (`-o KEY=VALUE`) a model takes."""

    options: tuple[Option, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(option.name for option in self.options)

    def check(self, model: str, given: Mapping[str, Any]) -> None:
        """Raise ConfigError, saying what is accepted, for an unknown name or a value out of its range."""
        known = {option.name: option for option in self.options}
        for key in sorted(given):
            option = known.get(key)
            if option is None:
                raise ConfigError(self._unknown(model, key))
            value = given[key]
            if not option.accepts(value):
                raise ConfigError(f"{model}: option {key} must be {option.rule}, got {value!r}")
            if option.check is not None:
                try:
                    option.check(value)
                except ConfigError as error:
                    raise ConfigError(f"{model}: option {key}: {error}") from None

    def _unknown(self, model: str, key: str) -> str:
        if not self.options:
            # -o applies to every model of a command, so a mixed command is the likely cause
            return (
                f"{model} takes no generation options (-o), got {key!r}; -o applies to every model of the"
                " command: run models that take other options in a command of their own"
            )
        close = difflib.get_close_matches(key, self.names, n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(name) for name in close)}?)" if close else ""
        return f"{model} does not take the option {key!r}{hint}; it takes: {', '.join(sorted(self.names))}"


@dataclass(frozen=True)
class WeightSource:
    """One folder of files a model loads: a local path or a hub id (`owner/name`, or `owner/name/subfolder`
    where `subfolder` is allowed), and which parts must be there (config, weights, processor, tokenizer)."""

    role: str
    """What the files are, e.g. "checkpoint", "LLaDA backbone"."""
    reference: str
    parts: tuple[str, ...]
    override: str
    """How to name another copy, e.g. "qwen2-audio-instruct@PATH" or "DIFFA_EVAL_LLADA=PATH"."""
    given_by: str | None = None
    """Where `reference` came from when the user named it (e.g. "DIFFA_EVAL_LLADA"); None for the default."""
    subfolder: bool = False
    revision: str | None = None
    """The hub revision to find (`--model-args revision=...`); None: the main branch."""


def hf_checkpoint(spec: ModelSpec, default: str) -> WeightSource:
    """The checkpoint of a transformers model: `NAME@PATH` or the preset's hub id, with config, weights,
    processor and tokenizer (what `from_pretrained` of the model and of its processor reads)."""
    return WeightSource(
        "checkpoint",
        spec.checkpoint or default,
        (CONFIG, WEIGHTS, PROCESSOR, TOKENIZER),
        f"{spec.name}@PATH",
        str(spec) if spec.checkpoint else None,
        revision=dict(spec.model_args).get("revision"),
    )


@dataclass(frozen=True)
class ModelProfile:
    """A model as planning sees it. The fields mirror the adapter's attributes (`diffa_eval.models.base`)."""

    name: str
    family: str
    sampling_rate: int | None
    """None where the model's processor says it on load (such models resample with the default, soxr, so
    planning does not depend on it)."""
    prompt_variants: tuple[str, ...] = ()
    max_audio_seconds: float | None = None
    resampler: str = DEFAULT_RESAMPLER
    reads_reference: bool = False
    options: OptionSet = field(default_factory=OptionSet)
    sources: tuple[WeightSource, ...] = ()
    check_generation: Callable[[GenerationConfig], None] | None = None
    """Checks that concern several options or the answer length (e.g. DIFFA's steps and blocks); raises ConfigError."""
    describe_options: Callable[[Mapping[str, Any]], str] | None = None
    """The adapter's label for its options on leaderboard rows, when it writes its own."""

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"model family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.sampling_rate is None and self.resampler != DEFAULT_RESAMPLER:
            raise ConfigError(f"{self.name}: a model with its own resampler must state its sampling rate")

    def check(self, generation: GenerationConfig, context: str = "") -> None:
        """Raise ConfigError when the model does not take these generation settings; `context` (e.g. the task)
        ends the message of a check that depends on more than the options."""
        self.options.check(self.name, generation.options)
        if self.check_generation is not None:
            try:
                self.check_generation(generation)
            except ConfigError as error:
                where = f" ({context}, answer length {generation.max_new_tokens})" if context else ""
                raise ConfigError(f"{self.name}: {error}{where}") from None


class UnloadedModel:
    """A model as its profile describes it, with the attributes planning reads (`diffa_eval.models.base.
    DescribedModel`): a run's directory and resume keys are known without loading any weights."""

    def __init__(self, profile: ModelProfile, device: str) -> None:
        self.name = profile.name
        self.sampling_rate = profile.sampling_rate or 0  # unused with the default resampler (see ModelProfile)
        self.device = device
        self.prompt_variants = profile.prompt_variants
        self.max_audio_seconds = profile.max_audio_seconds
        self.resampler = profile.resampler
        self.reads_reference = profile.reads_reference
        self.describe_options = profile.describe_options

    def info(self) -> Mapping[str, Any]:
        return {"loaded": False}
