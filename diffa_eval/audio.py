"""The one audio path: any file (wav, flac, mp3, ogg) or HF `Audio` value -> mono float32 at a rate.

Decoding uses libsndfile (soundfile); resampling uses the resampler the model asks for (`resample`:
soxr by default). Nothing here can hang or exhaust memory on a hostile input: only regular files are
opened (a FIFO, a device such as /dev/zero behind a symlink, or a socket is refused without reading),
files are at most `MAX_FILE_BYTES`, and the header's sampling rate and length are checked before any
sample is decoded, so that no decoded or resampled array holds more than `MAX_SAMPLES` values. Every
problem with one sample's audio raises AudioError with a message that names the file and the fault.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from dataclasses import dataclass
from typing import IO

import numpy as np

from .errors import AudioError
from .resample import DEFAULT_RESAMPLER, resample, resampled_length
from .types import AudioRef

MIN_SAMPLING_RATE = 1_000
MAX_SAMPLING_RATE = 768_000
"""Sampling rates a header may state; anything else is a broken or crafted file (a 1 Hz header on a
few hundred KB of samples would otherwise ask the resampler for hours of 16 kHz audio)."""
MAX_FILE_BYTES = 2 * 1024**3
MAX_SAMPLES = 1 << 28
"""At most this many samples (1 GiB as float32) in the decoded file (all channels) and in the mono
signal resampled to the model's rate: 4.6 hours of mono audio at 16 kHz, 46 minutes of 48 kHz stereo."""
_READ_BYTES = 1 << 20


@dataclass(frozen=True)
class AudioProbe:
    """What is known about a sample's audio before decoding: its content hash, duration and rate."""

    sha256: str
    seconds: float
    sampling_rate: int | None = None


@dataclass(frozen=True)
class DecodedAudio:
    """Mono float32 samples at `sampling_rate`, with the source's duration and content hash."""

    array: np.ndarray
    sampling_rate: int
    seconds: float
    sha256: str


def _open_regular(path: str) -> tuple[IO[bytes], int]:
    """Open `path` for reading if it is a regular file; return it with its size. O_NONBLOCK keeps the open
    of a FIFO from waiting for a writer; the file type is then checked on the open descriptor, so nothing
    is ever read from anything but a regular file."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise AudioError(f"audio file not found: {path}") from None
    except IsADirectoryError:
        raise AudioError(f"audio path is a directory, not a file: {path}") from None
    except OSError as error:
        raise AudioError(f"cannot read audio file {path}: {error.strerror or error}") from None
    try:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):
            raise AudioError(f"audio path is a directory, not a file: {path}")
        if not stat.S_ISREG(status.st_mode):
            raise AudioError(f"audio path is not a regular file ({_file_kind(status.st_mode)}): {path}")
        if status.st_size > MAX_FILE_BYTES:
            raise AudioError(f"audio file is {status.st_size:,} bytes, more than {MAX_FILE_BYTES:,}: {path}")
        return os.fdopen(fd, "rb"), status.st_size
    except BaseException:
        os.close(fd)
        raise


def _file_kind(mode: int) -> str:
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "a socket" if stat.S_ISSOCK(mode) else "not a file")


def _read_limited(handle: IO[bytes], size: int, path: str) -> bytes:
    """The file's content: `size` bytes, or more if it grew since, up to MAX_FILE_BYTES."""
    chunks = [handle.read(size + 1)]
    total = len(chunks[0])
    while total > size and (chunk := handle.read(_READ_BYTES)):
        total += len(chunk)
        if total > MAX_FILE_BYTES:
            raise AudioError(f"audio file is more than {MAX_FILE_BYTES:,} bytes: {path}")
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _read_bytes(ref: AudioRef) -> bytes:
    if ref.data is not None:
        return ref.data
    if not ref.path:
        raise AudioError("sample has no audio (no path, bytes or array)")
    handle, size = _open_regular(ref.path)
    with handle:
        try:
            return _read_limited(handle, size, ref.path)
        except OSError as error:
            raise AudioError(f"cannot read audio file {ref.path}: {error.strerror or error}") from None


def _array_hash(array: np.ndarray, sampling_rate: int) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    digest.update(str(sampling_rate).encode())
    return digest.hexdigest()


def _check_rate(rate: int, ref: AudioRef, where: str) -> int:
    if not MIN_SAMPLING_RATE <= rate <= MAX_SAMPLING_RATE:
        raise AudioError(
            f"{where} gives a sampling rate of {rate} Hz, outside {MIN_SAMPLING_RATE}-{MAX_SAMPLING_RATE} Hz: "
            f"{ref.describe()}"
        )
    return rate


def _require_rate(ref: AudioRef) -> int:
    if not ref.sampling_rate or ref.sampling_rate <= 0:
        raise AudioError(f"audio array without a valid sampling rate: {ref.describe()}")
    return _check_rate(int(ref.sampling_rate), ref, "audio array")


def _check_length(frames: int, rate: int, ref: AudioRef, channels: int = 1, target_rate: int | None = None) -> None:
    """Refuse audio whose samples (all channels), or mono signal at `target_rate`, exceed MAX_SAMPLES."""
    biggest = max(frames * channels, resampled_length(frames, rate, target_rate) if target_rate else 0)
    if biggest > MAX_SAMPLES:
        layout = f" x {channels} channels" if channels > 1 else ""
        raise AudioError(
            f"audio is too long to decode: {frames / rate:,.0f} s at {rate} Hz{layout} is {biggest:,} samples "
            f"(at most {MAX_SAMPLES:,}): {ref.describe()}"
        )


def probe(ref: AudioRef) -> AudioProbe:
    """Content hash, duration and rate, read from the header without decoding the samples (a file is
    hashed as it is read, never held in memory)."""
    if ref.array is not None:
        rate = _require_rate(ref)
        array = np.asarray(ref.array)
        return AudioProbe(_array_hash(array, rate), _mono(array, ref).size / rate, rate)
    if ref.data is not None or not ref.path:
        raw = _read_bytes(ref)
        return _probe_stream(io.BytesIO(raw), hashlib.sha256(raw).hexdigest(), len(raw), ref)
    handle, _ = _open_regular(ref.path)
    with handle:
        digest, size = hashlib.sha256(), 0
        try:
            while chunk := handle.read(_READ_BYTES):
                size += len(chunk)
                if size > MAX_FILE_BYTES:
                    raise AudioError(f"audio file is more than {MAX_FILE_BYTES:,} bytes: {ref.path}")
                digest.update(chunk)
            handle.seek(0)
        except OSError as error:
            raise AudioError(f"cannot read audio file {ref.path}: {error.strerror or error}") from None
        return _probe_stream(handle, digest.hexdigest(), size, ref)


def _probe_stream(stream: IO[bytes], sha256: str, size: int, ref: AudioRef) -> AudioProbe:
    if size == 0:
        raise AudioError(f"audio file is empty (0 bytes): {ref.describe()}")
    try:
        import soundfile

        info = soundfile.info(stream)
    except Exception as error:
        raise AudioError(f"cannot decode audio {ref.describe()}: {_clean(error)}") from None
    rate = _check_rate(int(info.samplerate), ref, "audio header")
    _check_length(int(info.frames), rate, ref, int(info.channels))
    return AudioProbe(sha256, info.frames / rate, rate)


def decode(ref: AudioRef, sampling_rate: int, resampler: str = DEFAULT_RESAMPLER) -> DecodedAudio:
    """Decode to mono float32 at `sampling_rate`, averaging channels and resampling with `resampler`."""
    if sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be positive, got {sampling_rate}")
    if ref.array is not None:
        source_rate = _require_rate(ref)
        samples = _mono(np.asarray(ref.array, dtype=np.float32), ref)
        _check_length(samples.size, source_rate, ref, target_rate=sampling_rate)
        sha256 = _array_hash(np.asarray(ref.array), source_rate)
    else:
        raw = _read_bytes(ref)
        if not raw:
            raise AudioError(f"audio file is empty (0 bytes): {ref.describe()}")
        samples, source_rate = _decode_mono(raw, ref, sampling_rate)
        sha256 = hashlib.sha256(raw).hexdigest()
    if samples.size == 0:
        raise AudioError(f"audio has no samples: {ref.describe()}")
    if not np.isfinite(samples).all():
        bad = int(np.size(samples) - np.count_nonzero(np.isfinite(samples)))
        raise AudioError(f"audio contains {bad} NaN or infinite samples: {ref.describe()}")
    seconds = samples.size / source_rate
    samples = resample(samples, source_rate, sampling_rate, resampler)
    return DecodedAudio(np.ascontiguousarray(samples, dtype=np.float32), sampling_rate, seconds, sha256)


def _decode_mono(raw: bytes, ref: AudioRef, target_rate: int) -> tuple[np.ndarray, int]:
    """The file's samples averaged to mono, read once the header passed the checks."""
    try:
        import soundfile

        with soundfile.SoundFile(io.BytesIO(raw)) as sound:
            rate = _check_rate(int(sound.samplerate), ref, "audio header")
            # soundfile never reads past the frame count the header states, so this bounds the read.
            _check_length(int(sound.frames), rate, ref, sound.channels, target_rate)
            frames = sound.read(dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as error:
        raise AudioError(f"cannot decode audio {ref.describe()}: {_clean(error)}") from None
    return (frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0]), rate


def _mono(array: np.ndarray, ref: AudioRef) -> np.ndarray:
    """Average the channels of a (samples,), (channels, samples) or (samples, channels) array."""
    if array.ndim == 1:
        return array
    if array.ndim == 2:
        channel_axis = 0 if array.shape[0] < array.shape[1] else 1
        return np.asarray(array.mean(axis=channel_axis))
    raise AudioError(f"audio array must be 1-D or 2-D, got shape {array.shape}: {ref.describe()}")


_OPENING = re.compile(r"^Error opening <[^>]*>: ")


def _clean(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    # libsndfile's messages repeat the in-memory or open file object's repr; keep the reason only.
    return _OPENING.sub("", text)
