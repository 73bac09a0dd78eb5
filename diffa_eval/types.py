"""The typed values that flow through a run: samples in, model outputs, scores and metrics out."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError

SCHEMA_VERSION = 2
"""Version of the on-disk run format (manifest.json, samples.jsonl, metrics.json). Version 2 adds the
run's self-description (task description, variant, sample scope, judge) and the compute totals;
version-1 runs are still read."""


def stable_hash(value: Any) -> str:
    """SHA-256 hex digest of a JSON-serialisable value, independent of dict key order.

    Values JSON cannot hold are hashed by their text; lone surrogates (from bytes that were never valid
    UTF-8) are hashed as they are, so such ids stay distinct and valid text hashes as plain UTF-8.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class AudioRef:
    """Where a sample's audio lives: a file path, encoded bytes, or an already decoded array.

    `path` alone is a file on disk; `data` holds the encoded file content (e.g. from an HF
    `Audio(decode=False)` column), with `path` kept only as a name; `array` with
    `sampling_rate` is decoded audio (e.g. an HF `Audio` dict with `array`).
    """

    path: str | None = None
    data: bytes | None = field(default=None, repr=False, compare=False)
    array: np.ndarray | None = field(default=None, repr=False, compare=False)
    sampling_rate: int | None = None

    @classmethod
    def from_hf(cls, value: Mapping[str, Any]) -> AudioRef:
        """Build from an HF `Audio` feature value (`{"path", "bytes"}` or `{"array", "sampling_rate"}`)."""
        if value.get("array") is not None:
            return cls(
                path=value.get("path"),
                array=np.asarray(value["array"]),
                sampling_rate=int(value["sampling_rate"]),
            )
        return cls(path=value.get("path"), data=value.get("bytes"))

    def describe(self) -> str:
        """A short human-readable name for error messages."""
        if self.path:
            return self.path
        return "in-memory array" if self.array is not None else "in-memory bytes"


@dataclass(frozen=True)
class Sample:
    """One benchmark item: its id, audio, reference answer, answer options and native fields.

    `fields` holds the benchmark's own record (minus the audio), e.g. MMAU's `question`,
    `task`, `difficulty`; treat it as read-only.
    """

    id: str
    audio: AudioRef | None
    reference: str | None
    choices: tuple[str, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ModelSpec:
    """A model as the user names it: a registered name, optionally `+` an inference backend
    (e.g. `+vllm`; none means the model's default backend) and `@` a checkpoint path or hub id.

    `model_args` are the load settings of a transformers-backed model (`--model-args`, see
    `diffa_eval.models.model_args`), as sorted (key, value) pairs; they are not part of the text form."""

    name: str
    checkpoint: str | None = None
    backend: str | None = None
    model_args: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse `NAME`, `NAME+BACKEND`, `NAME@CHECKPOINT` or `NAME+BACKEND@CHECKPOINT`."""
        head, sep, checkpoint = text.strip().partition("@")
        name, plus, backend = head.partition("+")
        if not name or (sep and not checkpoint) or (plus and not backend):
            raise ConfigError(f"invalid model spec {text!r}: expected NAME[+BACKEND][@CHECKPOINT]")
        return cls(name=name, checkpoint=checkpoint or None, backend=backend or None)

    def __str__(self) -> str:
        head = f"{self.name}+{self.backend}" if self.backend else self.name
        return f"{head}@{self.checkpoint}" if self.checkpoint else head


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings; all of them are part of a sample's resume key.

    `options` carries backend-specific settings (e.g. diffusion steps, block length) as
    JSON-compatible values.
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0 <= self.temperature < math.inf:
            raise ConfigError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        for key, value in self.options.items():
            try:  # the options go into the manifest and every resume key, as strict JSON
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError):
                raise ConfigError(f"generation option {key}={value!r} is not a finite JSON value") from None

    def replace(self, **changes: Any) -> GenerationConfig:
        """A copy with the given fields changed; `None` values leave a field as it is."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "options": dict(self.options),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationConfig:
        return cls(**{**data, "options": dict(data.get("options", {}))})


@dataclass(frozen=True)
class ModelOutput:
    """What a model adapter returns for one request; a failure is data, not an exception."""

    text: str | None
    generated_tokens: int | None = None
    forward_passes: int | None = None
    seconds: float = 0.0
    error: str | None = None
    encode_seconds: float | None = None
    """Part of `seconds` spent encoding audio (a batch's time is shared evenly among its samples)."""
    decode_seconds: float | None = None
    """Part of `seconds` spent decoding text."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Model-specific facts about this sample, JSON-compatible (e.g. decoding settings, truncated audio)."""

    @classmethod
    def failure(cls, message: str, seconds: float = 0.0) -> ModelOutput:
        return cls(text=None, seconds=seconds, error=message)


@dataclass(frozen=True)
class Score:
    """How one output scored.

    `value` is None when the scoring protocol excludes the sample (e.g. an empty reference
    in WER); `details` holds the counts that corpus-level metrics sum (e.g. word errors).
    """

    value: float | None
    extracted: str | None = None
    details: Mapping[str, float] = field(default_factory=dict)
    explanation: str | None = None
    judgement: Mapping[str, Any] | None = None
    """For judge-scored samples: the judge model, the prompt's sha256 and the judge's replies."""


@dataclass(frozen=True)
class Unscored:
    """Why a prediction got no score; its output is kept and scored again on the next run."""

    reason: str
    pending: bool = False
    """True when nothing failed but scoring needs something unavailable now (e.g. no judge configured)."""


@dataclass(frozen=True)
class MetricValue:
    """An aggregate metric with its 95% confidence interval (bootstrap), in percent."""

    value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    lower_is_better: bool = False
    details: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "n": self.n,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "lower_is_better": self.lower_is_better,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricValue:
        return cls(
            value=float(data["value"]),
            n=int(data["n"]),
            ci_low=data.get("ci_low"),
            ci_high=data.get("ci_high"),
            lower_is_better=bool(data.get("lower_is_better", False)),
            details=dict(data.get("details", {})),
        )


@dataclass(frozen=True)
class DatasetInfo:
    """Where a task's data came from, pinned well enough to reproduce the run."""

    source: str
    """`hub`, `local` or `bundled` (the offline `sample` split shipped with diffa-eval)."""
    id: str
    """Hub dataset id, or the local path that was read."""
    revision: str | None = None
    """Hub commit sha, or the git blob sha of a local metadata file."""
    label_version: str | None = None
    """The benchmark's own label version when it has one (e.g. MMAU-v05.15.25)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunCost:
    """Compute totals over a run's samples that have an output (a model's own counts; None when it gives none)."""

    samples: int
    seconds: float
    """Model time: each batch's wall time shared among its samples."""
    generated_tokens: int | None = None
    forward_passes: int | None = None
    audio_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunCost:
        return cls(
            samples=int(data["samples"]),
            seconds=float(data["seconds"]),
            generated_tokens=None if data.get("generated_tokens") is None else int(data["generated_tokens"]),
            forward_passes=None if data.get("forward_passes") is None else int(data["forward_passes"]),
            audio_seconds=None if data.get("audio_seconds") is None else float(data["audio_seconds"]),
        )


@dataclass(frozen=True)
class TaskMetrics:
    """The content of metrics.json: overall metrics, per-group breakdowns and sample counts."""

    metrics: Mapping[str, MetricValue]
    breakdowns: Mapping[str, Mapping[str, Mapping[str, MetricValue]]]
    """field -> field value -> metric name -> value, e.g. breakdowns["task"]["sound"]["accuracy"]."""
    n_samples: int
    """Samples planned for the run."""
    n_scored: int
    """Samples with an output that the scoring protocol counts."""
    n_excluded: int
    """Samples with an output that the scoring protocol leaves out (e.g. empty reference)."""
    n_failed: int
    """Samples without a score because of an error: audio, model or scoring."""
    primary_metric: str
    n_pending: int = 0
    """Samples with an output that waits to be scored (e.g. no judge configured)."""
    cost: RunCost | None = None
    """What producing the outputs cost, summed over the samples with an output; None in version-1 runs."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "primary_metric": self.primary_metric,
            "n_samples": self.n_samples,
            "n_scored": self.n_scored,
            "n_excluded": self.n_excluded,
            "n_failed": self.n_failed,
            "n_pending": self.n_pending,
            "cost": None if self.cost is None else self.cost.to_dict(),
            "metrics": {name: value.to_dict() for name, value in self.metrics.items()},
            "breakdowns": {
                group: {
                    label: {name: value.to_dict() for name, value in values.items()} for label, values in labels.items()
                }
                for group, labels in self.breakdowns.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskMetrics:
        return cls(
            metrics={name: MetricValue.from_dict(v) for name, v in data["metrics"].items()},
            breakdowns={
                group: {
                    label: {name: MetricValue.from_dict(v) for name, v in values.items()}
                    for label, values in labels.items()
                }
                for group, labels in data.get("breakdowns", {}).items()
            },
            n_samples=int(data["n_samples"]),
            n_scored=int(data["n_scored"]),
            n_excluded=int(data["n_excluded"]),
            n_failed=int(data["n_failed"]),
            n_pending=int(data.get("n_pending", 0)),
            primary_metric=data["primary_metric"],
            cost=None if data.get("cost") is None else RunCost.from_dict(data["cost"]),
        )
