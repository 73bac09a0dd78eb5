"""The one audio path: formats, channels, resampling, hashes, and a clear error for every bad input."""

from __future__ import annotations

import io
import os
import re
import struct
import threading
import tracemalloc
from collections.abc import Callable
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


# Hostile inputs: nothing may hang, read without end or allocate without bound.


def _within(seconds: float, call: Callable[[], object]) -> object:
    """`call()`'s result or exception, failing the test if it has not returned after `seconds` (the
    thread is a daemon, so a call that hangs forever cannot keep the test process alive)."""
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # handed to the test
            outcome.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return outcome[0]


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "pipe.wav")
    return tmp / "pipe.wav"


def _dev_zero(tmp: Path) -> Path:
    (tmp / "zeros.wav").symlink_to("/dev/zero")
    return tmp / "zeros.wav"


def _loop(tmp: Path) -> Path:
    (tmp / "a.wav").symlink_to(tmp / "b.wav")
    (tmp / "b.wav").symlink_to(tmp / "a.wav")
    return tmp / "a.wav"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")
@pytest.mark.parametrize("read", [audio.probe, lambda ref: audio.decode(ref, 16_000)], ids=["probe", "decode"])
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_fifo, r"audio path is not a regular file \(a FIFO\): .*pipe.wav"),
        (_dev_zero, r"audio path is not a regular file \(a character device\): .*zeros.wav"),
        (_loop, r"cannot read audio file .*a.wav: Too many levels of symbolic links"),
    ],
    ids=["fifo", "symlink-to-dev-zero", "symlink-loop"],
)
def test_only_regular_files_are_read_and_anything_else_fails_at_once(
    tmp_path: Path, read: Callable[[AudioRef], object], make: Callable[[Path], Path], message: str
) -> None:
    ref = AudioRef(path=str(make(tmp_path)))
    error = _within(10, lambda: read(ref))
    assert isinstance(error, AudioError), error
    assert re.match(message, str(error)), str(error)


def _wav_claiming(path: Path, rate: int, frames: int) -> Path:
    """A real 16-bit mono WAV of `frames` samples whose header states `rate` Hz."""
    soundfile.write(path, np.zeros(frames, dtype=np.float32), 16_000, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    raw[24:28], raw[28:32] = struct.pack("<I", rate), struct.pack("<I", 2 * rate)
    path.write_bytes(bytes(raw))
    return path


def test_a_header_with_an_implausible_rate_is_refused_before_anything_is_decoded_or_resampled(tmp_path: Path) -> None:
    ref = AudioRef(path=str(_wav_claiming(tmp_path / "one-hertz.wav", 1, 400_000)))  # 800 KB "lasting" 4.6 days
    tracemalloc.start()
    try:
        for read in (audio.probe, lambda r: audio.decode(r, 16_000)):
            with pytest.raises(AudioError, match=r"audio header gives a sampling rate of 1 Hz, outside 1000-768000"):
                read(ref)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak:,} bytes allocated"  # the file is 800 KB; resampling it would need 25 GB


def test_audio_longer_than_the_memory_bound_is_refused_from_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio, "MAX_SAMPLES", 10_000)
    long = AudioRef(path=str(write_audio(tmp_path / "long.wav", seconds=1.0)))  # 16,000 samples
    for read in (audio.probe, lambda r: audio.decode(r, 16_000)):
        with pytest.raises(AudioError, match=r"audio is too long to decode: 1 s at 16000 Hz is 16,000 samples"):
            read(long)
    # within the bound at 8 kHz, beyond it once resampled to 16 kHz: probing passes, decoding refuses
    short = AudioRef(path=str(write_audio(tmp_path / "short.wav", seconds=1.0, rate=8_000)))
    assert audio.probe(short).seconds == pytest.approx(1.0)
    with pytest.raises(AudioError, match="is 16,000 samples"):
        audio.decode(short, 16_000)
    with pytest.raises(AudioError, match="is 16,000 samples"):
        audio.decode(AudioRef(array=np.zeros(8_000, dtype=np.float32), sampling_rate=8_000), 16_000)
    # every channel is decoded before they are averaged: 6,000 frames of stereo are 12,000 samples
    stereo = tmp_path / "stereo.wav"
    soundfile.write(stereo, np.zeros((6_000, 2), dtype=np.float32), 16_000)
    for read in (audio.probe, lambda r: audio.decode(r, 16_000)):
        with pytest.raises(AudioError, match=r"at 16000 Hz x 2 channels is 12,000 samples \(at most 10,000\)"):
            read(AudioRef(path=str(stereo)))


def test_a_file_over_the_size_bound_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(audio, "MAX_FILE_BYTES", 1_000)
    ref = AudioRef(path=str(write_audio(tmp_path / "big.wav", seconds=0.5)))
    for read in (audio.probe, lambda r: audio.decode(r, 16_000)):
        with pytest.raises(AudioError, match=r"audio file is 16,044 bytes, more than 1,000: .*big.wav"):
            read(ref)


def test_an_array_with_an_implausible_rate_is_refused() -> None:
    with pytest.raises(AudioError, match="audio array gives a sampling rate of 1 Hz"):
        audio.decode(AudioRef(array=np.zeros(400_000, dtype=np.float32), sampling_rate=1), 16_000)
