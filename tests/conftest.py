"""Shared fixtures. Tests never touch the network: the hub is forced offline before anything imports it."""

from __future__ import annotations

import os
import tempfile

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="diffa-eval-tests-hf-")  # never the user's cache
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.pop("DIFFA_EVAL_DATA_DIR", None)
os.environ.pop("DIFFA_EVAL_TASKS_DIR", None)

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import soundfile

from diffa_eval.models import MODELS
from diffa_eval.models.base import GenerationRequest
from diffa_eval.types import GenerationConfig, ModelOutput, ModelSpec

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_data() -> Path:
    """The real benchmark metadata beside the checkout; tests that need it skip without it."""
    folder = SHARED / "data"
    if not folder.is_dir():
        pytest.skip("../shared/data is not present")
    return folder


def tone(seconds: float = 0.5, rate: int = 16_000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_audio(path: Path, seconds: float = 0.5, rate: int = 16_000, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, tone(seconds, rate), rate, **kwargs)
    return path


class RecordingModel:
    """Answers with the first option (or the reference for open tasks) and records every call."""

    name = "recording"
    sampling_rate = 16_000
    device = "cpu"
    prompt_variants: tuple[str, ...] = ()
    max_audio_seconds: float | None = None
    reads_reference = True

    def __init__(self, calls: list[list[str]], fail_on: set[str]) -> None:
        self.calls = calls
        self.fail_on = fail_on
        self.requests: list[tuple[GenerationRequest, GenerationConfig]] = []

    def info(self) -> dict[str, str]:
        return {"kind": "test"}

    def close(self) -> None:
        pass

    def generate(self, requests: Sequence[GenerationRequest], config: GenerationConfig) -> list[ModelOutput]:
        self.calls.append([r.sample_id for r in requests])
        self.requests += [(r, config) for r in requests]
        if self.fail_on & {r.sample_id for r in requests}:
            raise RuntimeError("boom")
        return [ModelOutput(r.choices[0] if r.choices else (r.reference or ""), 3, 1, 0.01) for r in requests]


@pytest.fixture
def recording_model() -> Iterator[tuple[str, list[list[str]], set[str]]]:
    """Registers model `recording`; yields (name, calls, ids that make a batch raise)."""
    calls: list[list[str]] = []
    fail_on: set[str] = set()

    def factory(spec: ModelSpec, device: str) -> RecordingModel:
        return RecordingModel(calls, fail_on)

    MODELS.register("recording", factory, description="test model")
    try:
        yield "recording", calls, fail_on
    finally:
        MODELS.unregister("recording")
