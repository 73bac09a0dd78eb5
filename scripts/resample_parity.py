"""diffa-eval's `sinc-hann` resampler against torchaudio, which DIFFA's evaluation scripts resample with.

    python scripts/resample_parity.py fixture    # rewrite tests/golden/resample_torchaudio.npz
    python scripts/resample_parity.py compare    # print the differences per source rate

Runs only where torchaudio is installed (diffa-eval does not depend on it), e.g. a scratch venv:
`python -m venv /tmp/ta && /tmp/ta/bin/pip install torch==2.9.1 'torchaudio==2.9.*' soxr transformers`,
then `/tmp/ta/bin/python scripts/resample_parity.py compare` from the repository root.

`fixture` resamples a few short test signals (noise, a chirp up to the source's Nyquist rate, a tone
just under 8 kHz) at 44.1, 48, 22.05, 11.025, 8 and 16 kHz to 16 kHz with `torchaudio.transforms.Resample`
(DIFFA's call, default settings) and stores inputs and outputs; tests/test_resample.py compares the
project's resampler with them. `compare` does the same on 5 s signals and on the bundled sample clips,
for torchaudio's `functional.resample` too, and prints the largest sample difference of soxr and of
`sinc-hann` from torchaudio, and the largest difference of the Whisper log-mel features (80 bins as
whisper-small's, 128 as whisper-large-v3's) computed from each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diffa_eval.resample import SINC_HANN, SOXR, resample  # noqa: E402 - after the path is set

FIXTURE = ROOT / "tests" / "golden" / "resample_torchaudio.npz"
TARGET = 16_000
RATES = (44_100, 48_000, 22_050, 11_025, 8_000, 16_000)
SAMPLE_CLIPS = (
    "tasks/mmau/samples/mmau_test/test-audios",
    "tasks/mmar/samples/audio",
    "tasks/mmau/samples/mmau_test_mini",
)


def probe_signal(rate: int, seconds: float, seed: int) -> np.ndarray:
    """Noise, a chirp from 50 Hz to the Nyquist rate and a 7.9 kHz tone (just under 16 kHz's Nyquist rate)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    chirp = np.sin(2 * np.pi * (50 * t + (rate / 2 - 50) * t**2 / (2 * seconds)))
    signal = 0.3 * rng.standard_normal(t.size) + 0.3 * chirp + 0.2 * np.sin(2 * np.pi * 7_900 * t)
    return np.clip(signal, -1, 1).astype(np.float32)


def torchaudio_resample(samples: np.ndarray, rate: int, functional: bool = False) -> np.ndarray:
    import torch
    import torchaudio

    waveform = torch.from_numpy(samples)[None]
    if functional:
        return torchaudio.functional.resample(waveform, rate, TARGET)[0].numpy()
    return torchaudio.transforms.Resample(orig_freq=rate, new_freq=TARGET)(waveform)[0].numpy()


def write_fixture() -> None:
    import torchaudio

    arrays: dict[str, np.ndarray] = {}
    for seed, rate in enumerate(RATES):
        signal = probe_signal(rate, 0.04, seed)
        arrays[f"input_{rate}"] = signal
        arrays[f"torchaudio_{rate}"] = torchaudio_resample(signal, rate)
    arrays["torchaudio_version"] = np.array(torchaudio.__version__)
    np.savez_compressed(FIXTURE, **arrays)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size:,} bytes) with torchaudio {torchaudio.__version__}")


def clips() -> Iterator[tuple[str, int, np.ndarray]]:
    """(name, rate, mono samples) of the 5 s test signals and of the bundled sample clips not at 16 kHz."""
    import soundfile

    for seed, rate in enumerate(RATES):
        yield f"signal-{rate}", rate, probe_signal(rate, 5.0, 100 + seed)
    for folder in SAMPLE_CLIPS:
        for path in sorted((ROOT / folder).rglob("*.wav")):
            samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
            if rate != TARGET:
                yield path.name, rate, samples.mean(axis=1).astype(np.float32)


def compare() -> None:
    from transformers import WhisperFeatureExtractor

    extractors = {bins: WhisperFeatureExtractor(feature_size=bins) for bins in (80, 128)}

    def log_mel(samples: np.ndarray, bins: int) -> np.ndarray:
        features = extractors[bins](samples, sampling_rate=TARGET, return_tensors="np")["input_features"]
        return np.asarray(features)[0]

    worst: dict[int, dict[str, float]] = {}
    for name, rate, samples in clips():
        reference = torchaudio_resample(samples, rate)
        outputs = {
            "functional": torchaudio_resample(samples, rate, functional=True),
            SINC_HANN: resample(samples, rate, TARGET, SINC_HANN),
            SOXR: resample(samples, rate, TARGET, SOXR),
        }
        row = worst.setdefault(rate, {})
        found = {}
        for method, output in outputs.items():
            # soxr may give one sample less or more than ceil(n * 16000 / rate); compare what both have
            common = min(len(output), len(reference))
            found[f"{method} samples"] = float(np.abs(output[:common] - reference[:common]).max())
            for bins in extractors:
                found[f"{method} mel{bins}"] = float(np.abs(log_mel(output, bins) - log_mel(reference, bins)).max())
        for column, value in found.items():
            row[column] = max(row.get(column, 0.0), value)
        details = ", ".join(f"{column} {value:.3g}" for column, value in found.items())
        print(f"{name} ({rate} Hz, {len(samples) / rate:.2f} s): {details}")
    columns = [f"{m} {c}" for m in (SOXR, SINC_HANN, "functional") for c in ("samples", "mel80", "mel128")]
    print("\nlargest |x - torchaudio.transforms.Resample(x)| per source rate (samples; log-mel features)")
    print("| rate | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for rate, row in worst.items():
        print(f"| {rate} | " + " | ".join(f"{row[c]:.2e}" for c in columns) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("fixture", "compare"))
    if parser.parse_args().action == "fixture":
        write_fixture()
    else:
        compare()


if __name__ == "__main__":
    main()
