"""The resamplers: `sinc-hann` gives torchaudio's default resampling (DIFFA's), soxr stays everyone else's.

tests/golden/resample_torchaudio.npz holds short signals and what torchaudio.transforms.Resample made of
them (scripts/resample_parity.py writes it where torchaudio is installed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from diffa_eval import audio
from diffa_eval.errors import AudioError
from diffa_eval.models import MODELS
from diffa_eval.models.diffa.adapter import DiffaAdapter
from diffa_eval.resample import SINC_HANN, SOXR, resample, sinc_hann_filters
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.task import TASKS
from diffa_eval.types import AudioRef, ModelSpec

from .mock_model import MockModel, Script

FIXTURE = Path(__file__).parent / "golden" / "resample_torchaudio.npz"
RATES = (44_100, 48_000, 22_050, 11_025, 8_000, 16_000)


@pytest.mark.parametrize("rate", RATES)
def test_sinc_hann_equals_torchaudio_within_float32_rounding(rate: int) -> None:
    with np.load(FIXTURE) as fixture:
        source, expected = fixture[f"input_{rate}"], fixture[f"torchaudio_{rate}"]
    got = resample(source, rate, 16_000, SINC_HANN)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-7)


def test_sinc_hann_differs_from_soxr_where_torchaudio_does() -> None:
    """The fixture separates the two resamplers: soxr is far from torchaudio's output at 44.1 kHz."""
    with np.load(FIXTURE) as fixture:
        source, expected = fixture["input_44100"], fixture["torchaudio_44100"]
    assert np.abs(resample(source, 44_100, 16_000, SOXR) - expected).max() > 1e-3


def test_long_audio_is_filtered_in_chunks_with_the_same_result() -> None:
    rng = np.random.default_rng(1)
    source = rng.standard_normal(48_000 * 3).astype(np.float32)
    whole = resample(source, 48_000, 16_000, SINC_HANN)
    import diffa_eval.resample as module

    chunks = module._CHUNK_VALUES
    module._CHUNK_VALUES = 4_096
    try:
        chunked = resample(source, 48_000, 16_000, SINC_HANN)
    finally:
        module._CHUNK_VALUES = chunks
    np.testing.assert_allclose(chunked, whole, rtol=0, atol=1e-6)
    assert whole.size == 48_000


def test_each_phase_filter_passes_a_constant_unchanged() -> None:
    """A sanity check of the filter bank: a DC input comes out as the same DC (the gain of every phase is 1)."""
    filters, _ = sinc_hann_filters(44_100, 16_000)
    up, span = filters.shape
    assert (up, span) == (160, 2 * 17 + 441)
    np.testing.assert_allclose(filters.sum(axis=1), 1.0, atol=0.02)


def test_a_rate_pair_needing_a_huge_filter_bank_is_one_samples_error() -> None:
    with pytest.raises(AudioError, match="cannot resample 44099 Hz to 16000 Hz with the windowed-sinc resampler"):
        resample(np.zeros(100, dtype=np.float32), 44_099, 16_000, SINC_HANN)


def test_decode_uses_the_resampler_it_is_given() -> None:
    with np.load(FIXTURE) as fixture:
        source, expected = fixture["input_22050"], fixture["torchaudio_22050"]
    ref = AudioRef(array=source, sampling_rate=22_050)
    np.testing.assert_allclose(audio.decode(ref, 16_000, SINC_HANN).array, expected, atol=5e-7)
    assert np.abs(audio.decode(ref, 16_000).array - expected).max() > 1e-3  # soxr by default


def test_the_diffa_presets_ask_for_torchaudios_resampler() -> None:
    assert DiffaAdapter.resampler == SINC_HANN


@dataclass
class Switchable:
    """Model `switchable`: the scripted model built with the resampler set here; `made` holds its instances."""

    resampler: str = SOXR
    made: list[MockModel] = field(default_factory=list)

    def __call__(self, spec: ModelSpec, device: str) -> MockModel:
        model = MockModel(Script(name="switchable", resampler=self.resampler))
        self.made.append(model)
        return model


@pytest.fixture
def switchable() -> Iterator[Switchable]:
    factory = Switchable()
    MODELS.register("switchable", factory, description="test model")
    yield factory
    MODELS.unregister("switchable")


def test_the_resampler_is_in_the_manifest_and_a_new_one_regenerates_exactly_the_resampled_samples(
    tmp_path: Path, switchable: Switchable
) -> None:
    """The bundled MMAU clips are at 8 and 11.025 kHz, the LibriSpeech ones at 16 kHz, the model's rate."""
    tasks = [TASKS.get("mmau_test_mini"), TASKS.get("librispeech_test_clean")]
    options = RunOptions(split="sample", output_dir=tmp_path / "runs")
    heard: dict[str, dict[str, np.ndarray]] = {}
    for resampler in (SOXR, SINC_HANN, SINC_HANN):
        switchable.resampler = resampler
        outcomes = evaluate([ModelSpec("switchable")], tasks, options)
        for outcome in outcomes:
            manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
            assert manifest["model_info"]["resampler"] == resampler
        if resampler == SOXR:
            assert [(o.generated, o.reused) for o in outcomes] == [(10, 0), (5, 0)]
        elif SINC_HANN not in heard:
            assert [(o.generated, o.reused) for o in outcomes] == [(10, 0), (0, 5)]  # 16 kHz audio is unchanged
        else:
            assert [(o.generated, o.reused) for o in outcomes] == [(0, 10), (0, 5)]
        requests = switchable.made[-1].requests
        heard.setdefault(resampler, {r.sample_id: r.audio for r, _ in requests if r.audio is not None})
    changed = [i for i in heard[SINC_HANN] if not np.array_equal(heard[SINC_HANN][i], heard[SOXR][i])]
    assert len(changed) == 10, "every MMAU clip reached the model resampled the other way"
