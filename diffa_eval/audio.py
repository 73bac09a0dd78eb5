"""The one audio path: any file (wav, flac, mp3, ogg) or HF `Audio` value -> mono float32 at a rate.

Decoding uses libsndfile (soundfile) and resampling uses soxr at high quality. Every problem
with one sample's audio raises AudioError with a message that names the file and the fault.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np

from .errors import AudioError
from .types import AudioRef


@dataclass(frozen=True)
class AudioProbe:
    """What is known about a sample's audio before decoding: its content hash and duration."""

    sha256: str
    seconds: float


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 samples at `sampling_rate`, with the source's duration and content hash."""

    array: np.ndarray
    sampling_rate: int
    seconds: float
    sha256: str


def _read_bytes(ref: AudioRef) -> bytes:
    if ref.data is not None:
        return ref.data
    if not ref.path:
        raise AudioError("sample has no audio (no path, bytes or array)")
    try:
        with open(ref.path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise AudioError(f"audio file not found: {ref.path}") from None
    except IsADirectoryError:
        raise AudioError(f"audio path is a directory, not a file: {ref.path}") from None
    except OSError as error:
        raise AudioError(f"cannot read audio file {ref.path}: {error.strerror or error}") from None


def _array_hash(array: np.ndarray, sampling_rate: int) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    digest.update(str(sampling_rate).encode())
    return digest.hexdigest()


def _require_rate(ref: AudioRef) -> int:
    if not ref.sampling_rate or ref.sampling_rate <= 0:
        raise AudioError(f"audio array without a valid sampling rate: {ref.describe()}")
    return ref.sampling_rate


def probe(ref: AudioRef) -> AudioProbe:
    """Content hash and duration, read from the file header without decoding the samples."""
    if ref.array is not None:
        rate = _require_rate(ref)
        array = np.asarray(ref.array)
        return AudioProbe(_array_hash(array, rate), _mono(array, ref).size / rate)
    raw = _read_bytes(ref)
    if not raw:
        raise AudioError(f"audio file is empty (0 bytes): {ref.describe()}")
    try:
        import soundfile

        info = soundfile.info(io.BytesIO(raw))
    except Exception as error:
        raise AudioError(f"cannot decode audio {ref.describe()}: {_clean(error)}") from None
    seconds = info.frames / info.samplerate if info.samplerate else 0.0
    return AudioProbe(hashlib.sha256(raw).hexdigest(), seconds)


def decode(ref: AudioRef, sampling_rate: int) -> DecodedAudio:
    """Decode to mono float32 at `sampling_rate`, averaging channels and resampling with soxr."""
    if sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate}")
    if ref.array is not None:
        source_rate = _require_rate(ref)
        samples = _mono(np.asarray(ref.array, dtype=np.float32), ref)
        sha256 = _array_hash(np.asarray(ref.array), source_rate)
    else:
        raw = _read_bytes(ref)
        if not raw:
            raise AudioError(f"audio file is empty (0 bytes): {ref.describe()}")
        try:
            import soundfile

            frames, source_rate = soundfile.read(io.BytesIO(raw), dtype="float32", always_2d=True)
        except Exception as error:
            raise AudioError(f"cannot decode audio {ref.describe()}: {_clean(error)}") from None
        samples = frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0]
        sha256 = hashlib.sha256(raw).hexdigest()
    if samples.size == 0:
        raise AudioError(f"audio has no samples: {ref.describe()}")
    if not np.isfinite(samples).all():
        bad = int(np.size(samples) - np.count_nonzero(np.isfinite(samples)))
        raise AudioError(f"audio contains {bad} NaN or infinite samples: {ref.describe()}")
    seconds = samples.size / source_rate
    if source_rate != sampling_rate:
        import soxr

        samples = soxr.resample(samples, source_rate, sampling_rate, quality="HQ")
    return DecodedAudio(np.ascontiguousarray(samples, dtype=np.float32), sampling_rate, seconds, sha256)


def _mono(array: np.ndarray, ref: AudioRef) -> np.ndarray:
    """Average the channels of a (samples,), (channels, samples) or (samples, channels) array."""
    if array.ndim == 1:
        return array
    if array.ndim == 2:
        channel_axis = 0 if array.shape[0] < array.shape[1] else 1
        return np.asarray(array.mean(axis=channel_axis))
    raise AudioError(f"audio array must be 1-D or 2-D, got shape {array.shape}: {ref.describe()}")


def _clean(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    # libsndfile's messages repeat the in-memory file object's repr; keep the reason only.
    marker = "Error opening <_io.BytesIO"
    if text.startswith(marker) and ": " in text:
        text = text.split(": ", 1)[1]
    return text
