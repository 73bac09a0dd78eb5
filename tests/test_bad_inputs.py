"""Broken inputs: each gives a clear per-sample error or a clear up-front error, and everything else is evaluated.

The corpus is built in each test (no binary junk in the repository): an MMAU-layout folder
read through --data-dir, whose items point at good and broken audio files, plus metadata and
prediction files with broken records, and output directories that cannot be written.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from diffa_eval.errors import StoreError
from diffa_eval.models import MODELS
from diffa_eval.run import RunOptions, evaluate
from diffa_eval.store import read_run
from diffa_eval.task import TASKS
from diffa_eval.types import ModelSpec

from .conftest import tone, write_audio
from .mock_model import Registered, Script, registered

MMAU = "mmau_test_mini"


def _wav(path: Path, seconds: float = 0.3) -> bytes:
    write_audio(path, seconds=seconds)
    return path.read_bytes()


def _truncated_wav(path: Path) -> None:
    raw = _wav(path, 1.0)
    path.write_bytes(raw[: len(raw) // 2])  # the header still claims 1 s


def _truncated_flac(path: Path) -> None:
    soundfile.write(path, (0.1 * np.random.default_rng(0).standard_normal(16_000)).astype(np.float32), 16_000)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


def _corrupt_header(path: Path) -> None:
    raw = bytearray(_wav(path))
    raw[8:16] = b"XXXXXXXX"  # neither WAVE nor fmt
    path.write_bytes(bytes(raw))


def _header_claims_two_hours(path: Path) -> None:
    raw = bytearray(_wav(path, 0.1))
    size = 2 * 3600 * 16_000 * 2
    raw[4:8], raw[40:44] = struct.pack("<I", size + 36), struct.pack("<I", size)
    path.write_bytes(bytes(raw))


def _float_wav(path: Path, bad: float) -> None:
    samples = tone(0.2)
    samples[100:110] = bad
    soundfile.write(path, samples, 16_000, subtype="FLOAT")


def _no_frames(path: Path) -> None:
    soundfile.write(path, np.zeros(0, dtype=np.float32), 16_000)


# item id -> (file name, how to make it, None if it is evaluated else the start of its error)
CORPUS: dict[str, tuple[str, Callable[[Path], object], str | None]] = {
    "good-wav": ("good.wav", _wav, None),
    "good-flac": ("good.flac", lambda p: write_audio(p, 0.2, format="FLAC"), None),
    "truncated-wav": ("truncated.wav", _truncated_wav, None),  # libsndfile reads the frames that are there
    "header-claims-2h": ("claims.wav", _header_claims_two_hours, None),  # ... and no more than there are
    "truncated-flac": ("truncated.flac", _truncated_flac, "cannot decode audio"),
    "corrupt-header": ("corrupt.wav", _corrupt_header, "cannot decode audio"),
    "text-named-wav": ("notes.wav", lambda p: p.write_text("these are my notes, not audio\n"), "cannot decode audio"),
    "png-named-flac": ("image.flac", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64)), "cannot decode audio"),
    "json-named-mp3": ("meta.mp3", lambda p: p.write_text('{"not": "audio"}'), "cannot decode audio"),
    "zero-bytes": ("empty.wav", lambda p: p.write_bytes(b""), "audio file is empty (0 bytes)"),
    "zero-frames": ("frameless.wav", _no_frames, "audio has no samples"),
    "nan-samples": ("nan.wav", lambda p: _float_wav(p, np.nan), "audio contains 10 NaN or infinite samples"),
    "inf-samples": ("inf.wav", lambda p: _float_wav(p, np.inf), "audio contains 10 NaN or infinite samples"),
    "missing-file": ("absent.wav", lambda p: None, "audio file not found"),
    "a-directory": ("folder.wav", lambda p: p.mkdir(), "audio path is a directory"),
}


def _mmau_item(item_id: str, audio_file: str, question: str = "Which?") -> dict[str, Any]:
    return {"id": item_id, "audio_id": f"./test-mini-audios/{audio_file}", "question": question,
            "choices": ["Yes", "No"], "answer": "Yes", "task": "sound", "difficulty": "easy"}  # fmt: skip


def _corpus(root: Path, items: list[dict[str, Any]] | None = None, raw: bytes | None = None) -> Path:
    folder = root / "MMAU"
    (folder / "test-mini-audios").mkdir(parents=True)
    for name, make, _ in CORPUS.values():
        make(folder / "test-mini-audios" / name)
    records = items if items is not None else [_mmau_item(item, name) for item, (name, _, _) in CORPUS.items()]
    (folder / "mmau-test-mini.json").write_bytes(raw if raw is not None else json.dumps(records).encode())
    return root


def _run(root: Path, model: str = "oracle", **options: Any) -> Any:
    settings = {"split": "test", "data_dir": root, "output_dir": root / "runs", "batch_size": 4, **options}
    return evaluate([ModelSpec(model)], [TASKS.get(MMAU)], RunOptions(**settings))[0]


def test_every_broken_audio_file_is_one_clear_per_sample_error_and_the_rest_is_evaluated(tmp_path: Path) -> None:
    outcome = _run(_corpus(tmp_path))
    records = {r.sample_id: r for r in read_run(outcome.run_dir).records()}
    assert set(records) == set(CORPUS)
    for item, (name, _, error) in CORPUS.items():
        record = records[item]
        if error is None:
            assert record.error is None and record.score == 1.0, item
        else:
            assert record.error_stage == "audio" and record.error.startswith(error), (item, record.error)
            assert name in record.error, "the message names the file"
    assert records["truncated-wav"].audio_seconds == pytest.approx(0.5, abs=0.01)
    assert records["header-claims-2h"].audio_seconds == pytest.approx(0.1, abs=0.01)
    assert outcome.metrics.n_failed == sum(error is not None for _, _, error in CORPUS.values())


@pytest.fixture
def windowed() -> Iterator[Registered]:
    """Model `windowed8k`: 8 kHz, a 30 s audio window, answers "Yes"; yields what it was asked."""
    script = Script(name="windowed8k", sampling_rate=8_000, max_audio_seconds=30.0, answer=lambda request: "Yes")
    with registered(script) as record:
        yield record


def _lengths(record: Registered) -> list[int]:
    """The length of the audio of each request the model got."""
    return [0 if request.audio is None else len(request.audio) for request, _ in record.requests]


def _two_hours_of_silence(path: Path) -> None:
    """A real 2-hour 8 kHz 8-bit WAV written sparsely: 58 MB long, almost nothing on disk."""
    frames = 2 * 3600 * 8_000
    header = (
        b"RIFF" + struct.pack("<I", 36 + frames) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 8_000, 8_000, 1, 8)
    )
    with path.open("wb") as handle:
        handle.write(header + b"data" + struct.pack("<I", frames))
        handle.truncate(len(header) + 8 + frames)  # zero bytes: 8-bit PCM is unsigned, so this is -1.0 DC


@pytest.mark.parametrize(("policy", "error"), [("truncate", None), ("skip", "audio is 7200.0 s, longer than")])
def test_two_hours_of_audio_is_cut_to_the_window_or_skipped_with_a_clear_error(
    tmp_path: Path, windowed: Registered, policy: str, error: str | None
) -> None:
    root = tmp_path / "data"
    (root / "MMAU" / "test-mini-audios").mkdir(parents=True)
    _two_hours_of_silence(root / "MMAU" / "test-mini-audios" / "long.wav")
    write_audio(root / "MMAU" / "test-mini-audios" / "short.wav", seconds=0.2)
    items = [_mmau_item("long", "long.wav"), _mmau_item("short", "short.wav")]
    (root / "MMAU" / "mmau-test-mini.json").write_text(json.dumps(items))
    outcome = _run(root, "windowed8k", long_audio=policy, output_dir=tmp_path / "runs")
    records = {r.sample_id: r for r in read_run(outcome.run_dir).records()}
    assert records["short"].error is None
    assert records["long"].audio_seconds == pytest.approx(7200.0)
    if error is None:
        assert records["long"].error is None and records["long"].audio_truncated_to == 30.0
        assert max(_lengths(windowed)) == 30 * 8_000
    else:
        assert records["long"].error_stage == "audio" and records["long"].error.startswith(error)
        assert _lengths(windowed) == [1_600]


# Files that are not audio files at all, and headers crafted to exhaust memory


def _hostile_files(folder: Path) -> dict[str, tuple[str, str, str]]:
    """Item id -> (file name, what its error names, start of its error): a FIFO, a symlink to /dev/zero, a
    symlink loop and an 800 KB WAV whose header says 1 Hz (4.6 days of audio: 25 GB once resampled to 16 kHz)."""
    os.mkfifo(folder / "pipe.wav")
    (folder / "zeros.wav").symlink_to("/dev/zero")
    (folder / "loop-a.wav").symlink_to(folder / "loop-b.wav")
    (folder / "loop-b.wav").symlink_to(folder / "loop-a.wav")
    soundfile.write(folder / "one-hertz.wav", np.zeros(400_000, dtype=np.float32), 16_000, subtype="PCM_16")
    raw = bytearray((folder / "one-hertz.wav").read_bytes())
    raw[24:28], raw[28:32] = struct.pack("<I", 1), struct.pack("<I", 2)
    (folder / "one-hertz.wav").write_bytes(bytes(raw))
    return {
        "fifo": ("pipe.wav", "pipe.wav", "audio path is not a regular file (a FIFO)"),
        "dev-zero": ("zeros.wav", "/dev/zero", "audio path is not a regular file (a character device)"),
        "symlink-loop": ("loop-a.wav", "loop-a.wav", "cannot read audio file"),
        "one-hertz": ("one-hertz.wav", "one-hertz.wav", "audio header gives a sampling rate of 1 Hz"),
    }


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(), reason="needs FIFOs and /dev/zero")
def test_fifos_devices_symlink_loops_and_crafted_headers_are_each_one_samples_error_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    """Through the CLI, in a process whose address space is capped at 4 GiB: nothing hangs, nothing reads
    without end, nothing allocates gigabytes, and the task loads."""
    resource = pytest.importorskip("resource")
    root = _corpus(tmp_path)
    hostile = _hostile_files(root / "MMAU" / "test-mini-audios")
    items = [_mmau_item(item, file) for item, (file, _, _) in hostile.items()] + [_mmau_item("good", "good.wav")]
    (root / "MMAU" / "mmau-test-mini.json").write_text(json.dumps(items))

    def capped() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))

    args = ["run", "-m", "oracle", "-t", MMAU, "--data-dir", str(root), "--output-dir", str(tmp_path / "runs")]
    done = subprocess.run(
        [sys.executable, "-m", "diffa_eval", *args, "-q", "--max-failures", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=capped,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    records = {r.sample_id: r for r in read_run(next((tmp_path / "runs").rglob("manifest.json")).parent).records()}
    assert set(records) == {*hostile, "good"}
    assert records["good"].error is None and records["good"].score == 1.0
    for item, (_, name, error) in hostile.items():
        assert records[item].error_stage == "audio", (item, records[item].error)
        assert records[item].error.startswith(error) and name in records[item].error, (item, records[item].error)


# A record without audio


def _tiny_whisper(spec: ModelSpec, device: str) -> Any:
    from diffa_eval.models.tiny import tiny_whisper

    return tiny_whisper()


@pytest.fixture
def tiny_whisper_model() -> Iterator[str]:
    MODELS.register("tiny-whisper", _tiny_whisper, description="test model", tags=("transformers",))
    yield "tiny-whisper"
    MODELS.unregister("tiny-whisper")


@pytest.mark.parametrize("model", ["chance", "oracle", "diffa-tiny", "qwen2-audio-tiny", "tiny-whisper"])
def test_a_record_without_audio_is_that_samples_no_audio_error_for_every_model(
    tmp_path: Path, model: str, tiny_whisper_model: str
) -> None:
    good = _mmau_item("good", "good.wav")
    audio_less = {key: value for key, value in good.items() if key != "audio_id"}
    items = [
        good,
        {**audio_less, "id": "field-missing"},
        {**audio_less, "id": "field-null", "audio_id": None},
        {**audio_less, "id": "field-misnamed", "audio_path": good["audio_id"]},
        {**audio_less, "id": "audio-null", "audio": None},
    ]
    outcome = _run(_corpus(tmp_path, items), model, generation={"max_new_tokens": 2})
    records = {r.sample_id: r for r in read_run(outcome.run_dir).records()}
    assert records["good"].error is None and records["good"].output is not None
    for item in ("field-missing", "field-null", "field-misnamed", "audio-null"):
        record = records[item]
        assert (record.error_stage, record.output, record.score) == ("audio", None, None), item
        assert record.error.startswith("sample has no audio"), record.error
    assert outcome.metrics.n_failed == 4 and outcome.metrics.n_scored == 1


def test_non_utf8_bytes_in_metadata_are_replaced_and_the_item_is_evaluated(tmp_path: Path) -> None:
    items = [_mmau_item("latin1", "good.wav", "QUESTION"), _mmau_item("plain", "good.flac")]
    raw = json.dumps(items).encode().replace(b"QUESTION", b"Caf\xe9 \xff\xfe sounds?")
    outcome = _run(_corpus(tmp_path, raw=raw))
    records = {r.sample_id: r for r in read_run(outcome.run_dir).records()}
    assert records["latin1"].error is None and "Caf\ufffd \ufffd\ufffd sounds?" in records["latin1"].prompt
    assert records["plain"].error is None


def test_a_model_answer_that_is_not_valid_unicode_is_stored_with_replacement_characters(tmp_path: Path) -> None:
    # text holding lone surrogates, as bytes decoded with errors="surrogateescape" are
    mangled = Script(name="mangled", answer=lambda r: b"Yes \xff\xfe".decode("utf-8", "surrogateescape"))
    with registered(mangled):
        outcome = _run(_corpus(tmp_path, [_mmau_item("a", "good.wav"), _mmau_item("b", "good.flac")]), "mangled")
    records = read_run(outcome.run_dir).records()
    assert [r.output for r in records] == ["Yes \ufffd\ufffd"] * 2
    assert [r.score for r in records] == [1.0, 1.0]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "diffa_eval", *args], capture_output=True, text=True, timeout=120)


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ")
    return line


@pytest.mark.slow
@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([_mmau_item("a", "good.wav"), {"id": "b", "audio_id": "./test-mini-audios/good.wav"}], "lacks a field"),
        ([_mmau_item("a", "good.wav"), _mmau_item("a", "good.flac")], "1 duplicate sample ids in test: a"),
    ],
    ids=["missing-field", "duplicate-id"],
)
def test_broken_metadata_fails_its_task_up_front_with_the_reason(
    tmp_path: Path, items: list[dict[str, Any]], reason: str
) -> None:
    root = _corpus(tmp_path, items)
    done = _cli("run", "-m", "oracle", "-t", MMAU, "--data-dir", str(root), "--output-dir", str(tmp_path / "runs"))
    assert "Traceback" not in done.stdout + done.stderr
    assert f"✗ oracle · {MMAU}: {MMAU}: " in done.stdout and reason in done.stdout.replace("\n", " ")
    assert done.returncode == 1
    assert not (tmp_path / "runs" / "oracle").exists()


def test_a_predictions_file_with_bad_lines_scores_every_readable_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from diffa_eval.cli import app

    good = {"id": "1", "question": "Q", "choices": ["Yes", "No"], "answer": "Yes", "prediction": "Yes"}
    lines = [
        json.dumps(good).encode(),
        b'{"id": "2", "choices": ["Yes", "No"], "answer": "No", "prediction": "No"',  # cut off
        b"not json at all",
        b"[1, 2, 3]",
        json.dumps({**good, "id": "5", "prediction": "No \xff"}, ensure_ascii=False).encode("latin-1"),
        json.dumps({**good, "id": "6", "prediction": "Yes \udcff"}).encode(),  # an escaped lone surrogate
        json.dumps({"id": "7", "prediction": "Yes"}).encode(),  # no choices
    ]
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    output = tmp_path / "scores.jsonl"
    result = CliRunner().invoke(app, ["score", MMAU, str(path), "--json", "-o", str(output)])
    assert result.exit_code == 0, repr(result.exception)
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [row["score"] for row in rows] == [1.0, None, None, None, 0.0, 1.0, None]
    assert [row.get("error") is not None for row in rows] == [False, True, True, True, False, False, True]
    assert "lacks a field" in rows[6]["error"]


# ---------------------------------------------------------------------------------------------
# Output directories that cannot be written


def test_a_full_disk_mid_run_stops_with_a_clear_error_and_a_rerun_keeps_every_recorded_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _corpus(tmp_path, [_mmau_item(f"i{n}", "good.wav") for n in range(10)])
    import diffa_eval.store as store

    real_open = store.Path.open
    budget = {"bytes": 4_000}

    class FillingFile:
        """samples.jsonl on a disk with `budget` bytes left: past it, writes fail with ENOSPC."""

        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def write(self, text: str) -> int:
            if budget["bytes"] < len(text.encode()):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            budget["bytes"] -= len(text.encode())
            return int(self.handle.write(text))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.handle, name)

    def filling_open(path: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(path, mode, *args, **kwargs)
        return FillingFile(handle) if path.name == "samples.jsonl" and mode == "a" else handle

    monkeypatch.setattr(store.Path, "open", filling_open)
    with pytest.raises(StoreError, match=r"cannot write .*samples.jsonl: No space left on device; the samples"):
        _run(root)
    monkeypatch.undo()
    kept = [json.loads(line) for line in next((root / "runs").rglob("samples.jsonl")).read_text().splitlines()]
    assert 0 < len(kept) < 10
    again = _run(root)
    assert (again.reused, again.generated, again.metrics.n_scored) == (len(kept), 10 - len(kept), 10)


def test_a_read_only_run_directory_fails_before_any_model_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _corpus(tmp_path, [_mmau_item("a", "good.wav")])
    first = _run(root)
    import diffa_eval.store as store

    real = os.open

    def read_only(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(path).startswith(str(first.run_dir)) and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(store.os, "open", read_only)
    with pytest.raises(StoreError, match=r"cannot write .*manifest.json: Read-only file system; the samples"):
        _run(root)


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not bind root")
def test_the_cli_reports_a_read_only_output_directory_in_one_line(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    output.mkdir()
    output.chmod(0o500)
    try:
        done = _cli("run", "-m", "oracle", "-t", MMAU, "--split", "sample", "--output-dir", str(output), "-q")
    finally:
        output.chmod(0o700)
    assert "cannot write to output directory" in _one_line_error(done)


@pytest.mark.slow
def test_the_cli_reports_a_file_size_limit_in_one_line_and_the_rerun_resumes(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel refuse writes past a size (EFBIG), like a disk that fills up."""
    resource = pytest.importorskip("resource")
    args = ["run", "-m", "oracle", "-t", "librispeech_test_clean", "--split", "sample", "--batch-size", "1"]
    args += ["--output-dir", str(tmp_path / "runs"), "-q"]

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4_000, 4_000))

    done = subprocess.run(
        [sys.executable, "-m", "diffa_eval", *args], capture_output=True, text=True, timeout=120, preexec_fn=limited
    )
    assert "cannot write" in _one_line_error(done) and "File too large" in done.stderr
    finished = _cli(*args)
    assert finished.returncode == 0, finished.stderr
    assert "0 failed" in finished.stdout and "5 generated" not in finished.stdout
