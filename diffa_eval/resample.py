"""Resamplers for mono float32 audio: soxr, and the windowed-sinc interpolation torchaudio uses by default.

`soxr` (soxr at high quality) is what every model gets unless its adapter asks for another one.
`sinc-hann` gives the samples torchaudio's `functional.resample` and `transforms.Resample` give with
their defaults (Hann-windowed sinc, 6 zero crossings, roll-off 0.99), as DIFFA's evaluation scripts
resample; it is written here from that algorithm's description, so torchaudio is not needed.

The algorithm: with both rates divided by their gcd, every `down` input samples give `up` output
samples, and output phase k (0 <= k < up) always sits at the same offset from its input samples. Each
phase therefore has one FIR filter, a sinc band-limited to `rolloff` times the lower Nyquist rate,
truncated at `zero_crossings` zero crossings on either side and tapered by a Hann window; an output
block is the dot product of the phase filters with the input at a stride of `down`. The input is
zero-padded on both sides, and the output has ceil(len * up / down) samples.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import AudioError

SOXR = "soxr"
SINC_HANN = "sinc-hann"
RESAMPLERS = (SOXR, SINC_HANN)
DEFAULT_RESAMPLER = SOXR

ZERO_CROSSINGS = 6
ROLLOFF = 0.99
MAX_FILTER_COEFFICIENTS = 1 << 24
"""A rate pair whose reduced ratio is large (e.g. 44,099 Hz to 16 kHz) needs one filter per output phase;
past 16M coefficients (64 MB) the pair is refused rather than allocating gigabytes as torchaudio would."""
_CHUNK_VALUES = 1 << 22
"""Input values per matrix product, so that long audio is filtered in bounded memory."""


def check_resampler(name: str) -> str:
    """`name` if it is a known resampler, else a ValueError listing them."""
    if name not in RESAMPLERS:
        raise ValueError(f"unknown resampler {name!r}; resamplers: {', '.join(RESAMPLERS)}")
    return name


def resampled_length(length: int, source_rate: int, target_rate: int) -> int:
    """Samples that `length` samples at `source_rate` become at `target_rate` (both resamplers agree)."""
    return math.ceil(length * target_rate / source_rate)


def resample(samples: np.ndarray, source_rate: int, target_rate: int, method: str = DEFAULT_RESAMPLER) -> np.ndarray:
    """Mono float32 `samples` at `source_rate` -> float32 at `target_rate` with `method`."""
    check_resampler(method)
    if source_rate == target_rate:
        return samples
    if method == SOXR:
        import soxr

        return np.asarray(soxr.resample(samples, source_rate, target_rate, quality="HQ"), dtype=np.float32)
    return _sinc_hann(np.asarray(samples, dtype=np.float32), source_rate, target_rate)


def sinc_hann_filters(
    source_rate: int, target_rate: int, zero_crossings: int = ZERO_CROSSINGS, rolloff: float = ROLLOFF
) -> tuple[np.ndarray, int]:
    """The polyphase filter bank, shape (up, 2 * half_width + down), and its half width in input samples."""
    common = math.gcd(source_rate, target_rate)
    down, up = source_rate // common, target_rate // common
    cutoff = min(down, up) * rolloff  # cycles per period of `down` input samples
    half_width = math.ceil(zero_crossings * down / cutoff)
    taps = up * (2 * half_width + down)
    if taps > MAX_FILTER_COEFFICIENTS:
        raise AudioError(
            f"cannot resample {source_rate} Hz to {target_rate} Hz with the windowed-sinc resampler: the rates "
            f"reduce to {down}:{up}, which needs {taps:,} filter coefficients (at most {MAX_FILTER_COEFFICIENTS:,})"
        )
    # Time of each input tap relative to output phase k, in units of `down` input samples, times the cutoff:
    # the sinc's argument in zero crossings, cut off (and windowed to zero) at +-zero_crossings.
    input_times = np.arange(-half_width, half_width + down, dtype=np.float64) / down
    # torchaudio's Resample computes the phase offsets k / up in float32; so does this, so that the filters
    # agree to float32 rounding rather than to ~1e-5 (the offsets' rounding, times the cutoff).
    output_times = (np.arange(up, dtype=np.float32) / np.float32(up)).astype(np.float64)[:, None]
    x = np.clip((input_times[None, :] - output_times) * cutoff, -zero_crossings, zero_crossings)
    window = np.cos(x * np.pi / (2 * zero_crossings)) ** 2
    filters = np.sinc(x) * window * (cutoff / down)  # np.sinc(x) = sin(pi x) / (pi x), 1 at 0
    return filters.astype(np.float32), half_width


def _sinc_hann(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    filters, half_width = sinc_hann_filters(source_rate, target_rate)
    up, span = filters.shape
    down = span - 2 * half_width
    padded = np.concatenate([np.zeros(half_width, np.float32), samples, np.zeros(half_width + down, np.float32)])
    blocks = (len(padded) - span) // down + 1
    per_chunk = max(1, _CHUNK_VALUES // span)
    out = np.empty((blocks, up), dtype=np.float32)
    for start in range(0, blocks, per_chunk):
        stop = min(blocks, start + per_chunk)
        window = padded[start * down : (stop - 1) * down + span]
        frames = np.lib.stride_tricks.sliding_window_view(window, span)[::down]
        out[start:stop] = frames @ filters.T
    return out.reshape(-1)[: resampled_length(len(samples), source_rate, target_rate)]
