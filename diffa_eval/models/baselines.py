"""Baselines that need no weights: `chance` (the random-guess row) and `oracle` (a pipeline check)."""

from __future__ import annotations

import hashlib
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ..types import GenerationConfig, ModelOutput, ModelSpec
from .base import GenerationRequest
from .profile import ModelProfile


def sample_rng(seed: int, sample_id: str) -> random.Random:
    """A generator that depends only on the run seed and the sample id, never on order or batching."""
    text = f"{seed}\x00{sample_id}".encode("utf-8", "surrogatepass")  # ids that are not valid text too
    digest = hashlib.sha256(text).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class _Baseline(ABC):
    name = "baseline"
    sampling_rate = 16_000
    prompt_variants: tuple[str, ...] = ()
    max_audio_seconds: float | None = None
    reads_reference = False

    def __init__(self, spec: ModelSpec, device: str) -> None:
        self.profile(spec)
        self.device = "cpu"

    @classmethod
    def profile(cls, spec: ModelSpec) -> ModelProfile:
        """The baseline as planning sees it: no weights, no generation options (it reads none)."""
        if spec.checkpoint:
            raise ConfigError(f"{cls.name} has no checkpoint; got {spec}")
        return ModelProfile(cls.name, "baseline", cls.sampling_rate, reads_reference=cls.reads_reference)

    def info(self) -> Mapping[str, Any]:
        return {"kind": "baseline"}

    def close(self) -> None:  # noqa: B027 - no weights to release
        pass

    @abstractmethod
    def answer(self, request: GenerationRequest, config: GenerationConfig) -> ModelOutput:
        """The output for one request."""

    def generate(self, requests: Sequence[GenerationRequest], config: GenerationConfig) -> list[ModelOutput]:
        outputs = []
        for request in requests:
            start = time.perf_counter()
            output = self.answer(request, config)
            outputs.append(ModelOutput(output.text, 0, 0, time.perf_counter() - start, output.error))
        return outputs


class ChanceModel(_Baseline):
    """Picks one answer option uniformly at random, seeded by the sample id; says nothing when
    an item has no options (so its WER is 100%)."""

    name = "chance"

    def answer(self, request: GenerationRequest, config: GenerationConfig) -> ModelOutput:
        if not request.choices:
            return ModelOutput("")
        return ModelOutput(sample_rng(config.seed, request.sample_id).choice(request.choices))


class OracleModel(_Baseline):
    """Answers with the reference answer: the upper bound, and a check of the whole pipeline."""

    name = "oracle"
    reads_reference = True

    def answer(self, request: GenerationRequest, config: GenerationConfig) -> ModelOutput:
        if request.reference is None:
            return ModelOutput.failure("oracle needs a reference answer and this sample has none")
        return ModelOutput(request.reference)
