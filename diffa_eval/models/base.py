"""The model adapter interface: a batch of requests in, one ModelOutput per request out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..types import GenerationConfig, ModelOutput, ModelSpec


@dataclass(frozen=True)
class GenerationRequest:
    """One sample as a model sees it.

    `audio` is mono float32 at the adapter's `sampling_rate`. `choices` are the answers a
    multiple-choice item accepts, in the form its scorer reads (option texts, or letters), and
    empty otherwise. `reference` is the output the scorer counts correct; it is given only to
    adapters that declare `reads_reference = True` (the oracle baseline), and is then part of
    their samples' resume keys, so a changed reference makes such a model answer again.
    """

    sample_id: str
    prompt: str
    audio: np.ndarray | None
    choices: tuple[str, ...] = ()
    reference: str | None = None


@runtime_checkable
class DescribedModel(Protocol):
    """What planning a run reads of a model: a loaded adapter, or one described by its profile
    (`diffa_eval.models.profile.UnloadedModel`)."""

    name: str
    sampling_rate: int
    device: str
    prompt_variants: tuple[str, ...]
    """Task prompt variants this model prefers, best first (e.g. ("diffa",)): each task uses the
    first one it offers, else its default prompt. Empty for models without a preference."""
    max_audio_seconds: float | None
    """The longest audio the model takes (e.g. 30 for a Whisper encoder); None when unlimited.
    The runner cuts or skips longer audio, as the run's long-audio policy says, and records it.

    Two optional attributes, read when present: `resampler` (a name from `diffa_eval.resample`,
    default "soxr"), how the runner brings audio to `sampling_rate` (e.g. DIFFA's presets ask for
    torchaudio's windowed sinc, as their authors resampled); and `min_audio_samples` (default 0), the
    shortest clip the model takes, in samples at `sampling_rate`; shorter clips fail as too short."""

    def info(self) -> Mapping[str, Any]:
        """Facts recorded in the run manifest: checkpoint ids, dtype, device name, ..."""
        ...


@runtime_checkable
class ModelAdapter(DescribedModel, Protocol):
    """A loaded model. `generate` must return exactly one output per request, in order.

    A problem with one request should come back as `ModelOutput.failure(...)`; an exception
    fails the batch, and the runner then retries its requests one by one.
    """

    def generate(self, requests: Sequence[GenerationRequest], config: GenerationConfig) -> list[ModelOutput]: ...

    def close(self) -> None:
        """Release weights and device memory."""
        ...


def too_short(samples: int, min_samples: int, sampling_rate: int) -> str | None:
    """The error of a clip of `samples` samples for a model that needs `min_samples`, or None if it is long enough."""
    if samples >= min_samples:
        return None
    return (
        f"audio clip is too short for this model: {1000 * samples / sampling_rate:.1f} ms, "
        f"it needs at least {1000 * min_samples / sampling_rate:.1f} ms"
    )


ModelFactory = Callable[[ModelSpec, str], ModelAdapter]
"""Builds an adapter from a model spec and a device string ("auto", "cpu", "cuda:0", ...)."""
