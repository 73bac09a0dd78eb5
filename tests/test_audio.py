"""The one audio path: formats, channels, resampling, hashes, and a clear error for every bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from diffa_eval import audio
from diffa_eval.errors import AudioError
from diffa_eval.types import AudioRef

from .conftest import tone, write_audio


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".wav", {"subtype": "PCM_16"}),
        (".flac", {}),
        (".ogg", {"format": "OGG", "subtype": "VORBIS"}),
        (".mp3", {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
    ],
)
def test_common_formats_decode_to_mono_float32_at_the_requested_rate(
    tmp_path: Path, suffix: str, options: dict[str, str]
) -> None:
    path = write_audio(tmp_path / f"clip{suffix}", seconds=1.0, rate=22_050, **options)
    decoded = audio.decode(AudioRef(path=str(path)), 16_000)
    assert decoded.array.dtype == np.float32
    assert decoded.array.ndim == 1
    assert decoded.sampling_rate == 16_000
    assert decoded.seconds == pytest.approx(1.0, abs=0.06)  # mp3 and vorbis pad a few ms
    assert abs(decoded.array.size - 16_000) <= 0.06 * 16_000


def test_resampling_preserves_the_signal(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    soundfile.write(path, tone(1.0, 44_100, 1000.0), 44_100, subtype="FLOAT")
    decoded = audio.decode(AudioRef(path=str(path)), 16_000)
    expected = tone(1.0, 16_000, 1000.0)
    # away from the edges, a band-limited resampler reproduces the 1 kHz tone closely
    assert np.max(np.abs(decoded.array[800:-800] - expected[800:-800])) < 0.01


def test_stereo_is_averaged_to_mono(tmp_path: Path) -> None:
    left, right = tone(0.2), np.zeros(3200, dtype=np.float32)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16_000, subtype="FLOAT")
    decoded = audio.decode(AudioRef(path=str(path)), 16_000)
    np.testing.assert_allclose(decoded.array, left / 2, atol=1e-6)


def test_hf_audio_values_decode_from_bytes_and_from_arrays() -> None:
    buffer = io.BytesIO()
    soundfile.write(buffer, tone(0.25, 8_000), 8_000, format="FLAC")
    from_bytes = audio.decode(AudioRef.from_hf({"path": "x.flac", "bytes": buffer.getvalue()}), 16_000)
    from_array = audio.decode(AudioRef.from_hf({"array": tone(0.25, 8_000), "sampling_rate": 8_000}), 16_000)
    assert from_bytes.array.size == from_array.array.size == 4_000
    np.testing.assert_allclose(from_bytes.array, from_array.array, atol=1e-3)


def test_channel_first_arrays_are_averaged_too() -> None:
    both = np.stack([tone(0.1), tone(0.1)])  # (channels, samples)
    decoded = audio.decode(AudioRef(array=both, sampling_rate=16_000), 16_000)
    assert decoded.array.shape == (1_600,)


def test_probe_reads_hash_and_duration_without_decoding(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "a.wav", seconds=0.75)
    probe = audio.probe(AudioRef(path=str(path)))
    decoded = audio.decode(AudioRef(path=str(path)), 16_000)
    assert probe.seconds == pytest.approx(0.75)
    assert probe.sha256 == decoded.sha256
    copy = tmp_path / "b.wav"
    copy.write_bytes(path.read_bytes())
    assert audio.probe(AudioRef(path=str(copy))).sha256 == probe.sha256  # content, not name


def _corrupt(tmp_path: Path) -> AudioRef:
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt this is not audio")
    return AudioRef(path=str(path))


def _truncated(tmp_path: Path) -> AudioRef:
    good = write_audio(tmp_path / "good.flac", seconds=1.0).read_bytes()
    path = tmp_path / "truncated.flac"
    path.write_bytes(good[:40])
    return AudioRef(path=str(path))


def _empty_file(tmp_path: Path) -> AudioRef:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    return AudioRef(path=str(path))


def _zero_samples(tmp_path: Path) -> AudioRef:
    path = tmp_path / "silence.wav"
    soundfile.write(path, np.zeros(0, dtype=np.float32), 16_000)
    return AudioRef(path=str(path))


def _nan(tmp_path: Path) -> AudioRef:
    samples = tone(0.1)
    samples[10] = np.nan
    samples[20] = np.inf
    path = tmp_path / "nan.wav"
    soundfile.write(path, samples, 16_000, subtype="FLOAT")
    return AudioRef(path=str(path))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: AudioRef(path=str(tmp / "missing.wav")), "audio file not found: .*missing.wav"),
        (lambda tmp: AudioRef(path=str(tmp)), "is a directory"),
        (_corrupt, "cannot decode audio .*corrupt.wav"),
        (_truncated, "cannot decode audio .*truncated.flac"),
        (_empty_file, "audio file is empty"),
        (_zero_samples, "audio has no samples"),
        (_nan, "audio contains 2 NaN or infinite samples"),
        (lambda tmp: AudioRef(), "sample has no audio"),
        (lambda tmp: AudioRef(array=np.zeros(10, dtype=np.float32)), "without a valid sampling rate"),
    ],
    ids=["missing", "directory", "corrupt", "truncated", "empty-file", "no-samples", "nan", "none", "no-rate"],
)
def test_bad_audio_raises_a_clear_audio_error(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    ref = make(tmp_path)
    with pytest.raises(AudioError, match=message):
        audio.decode(ref, 16_000)
