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

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile

from .mock_model import Script, registered

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


@pytest.fixture
def recording_model() -> Iterator[tuple[str, list[list[str]], set[str]]]:
    """Registers the scripted model as `recording` (it reads the reference, answering open items with it);
    yields (name, the sample ids of each call, ids that make their batch raise)."""
    raise_on: set[str] = set()
    with registered(Script(name="recording", raise_on=raise_on, reads_reference=True)) as record:
        yield "recording", record.calls, raise_on
