"""Every model's weights are found before any model loads; what is missing fails in seconds, saying what to do.

The hub is never reached: it is offline (HF_HUB_OFFLINE, as in every test), or a local port that refuses
connections, or a local server that accepts them and never answers.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from diffa_eval.errors import CheckpointError
from diffa_eval.models.profile import WeightSource
from diffa_eval.models.sources import check_sources, missing_parts

MMAU = "mmau_test_mini"
FAST_S = 30.0
"""A failure "in seconds": Python's start and imports included, on a busy two-core machine (the hub's own
retries took 2.5 minutes for one missing model, and over 5 minutes for a cached one it could not reach)."""


def _online_env(hf_home: Path, endpoint: str, **extra: str) -> dict[str, str]:
    """The environment of a machine that is not told to stay offline, with a private hub cache."""
    env = {key: value for key, value in os.environ.items() if not key.endswith("_OFFLINE")}
    return {**env, "HF_HOME": str(hf_home), "HF_ENDPOINT": endpoint, "COLUMNS": "500", **extra}


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    command = [sys.executable, "-m", "diffa_eval", "run", *args]
    start = time.monotonic()
    environment = env if env is not None else {**os.environ, "COLUMNS": "500"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    return done, time.monotonic() - start


def _error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ")
    return line


@contextlib.contextmanager
def _refusing_port() -> Iterator[str]:
    """A local address where nothing listens: every connection is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def _silent_server() -> Iterator[str]:
    """A local server that accepts connections and never answers, like a firewall that drops packets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        for connection in held:
            connection.close()


def test_a_missing_model_fails_in_seconds_naming_the_checkpoint_form_and_hf_hub_offline(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    done, seconds = _run("-m", "qwen2-audio-instruct", "-t", MMAU, "--split", "sample", "--output-dir", str(output))
    line = _error(done)
    assert seconds < FAST_S
    assert "Qwen/Qwen2-Audio-7B-Instruct for qwen2-audio-instruct" in line
    assert "not in the local Hugging Face cache" in line
    assert "HF_HUB_OFFLINE is set, so nothing is downloaded" in line
    assert "or a local copy: qwen2-audio-instruct@PATH" in line
    assert "hf download Qwen/Qwen2-Audio-7B-Instruct" in line
    assert not output.exists()


@pytest.mark.parametrize("server", [_refusing_port, _silent_server], ids=["refused", "silent"])
def test_an_unreachable_hub_fails_a_missing_model_in_seconds(tmp_path: Path, server: object) -> None:
    with server() as endpoint:  # type: ignore[operator]
        env = _online_env(tmp_path / "hf", endpoint, DIFFA_EVAL_HUB_TIMEOUT="2")
        args = ["-m", "whisper-small", "-t", "librispeech_test_clean", "--split", "sample"]
        done, seconds = _run(*args, "--output-dir", str(tmp_path / "runs"), env=env)
    line = _error(done)
    assert seconds < FAST_S
    assert f"the hub ({endpoint}) cannot be reached" in line
    assert "HF_HUB_OFFLINE=1 skips this check" in line and "whisper-small@PATH" in line


def test_diffa_names_the_variables_of_its_base_models(tmp_path: Path) -> None:
    done, seconds = _run("-m", "diffa-2", "-t", MMAU, "--split", "sample", "--output-dir", str(tmp_path))
    line = _error(done)
    assert seconds < FAST_S
    assert "zhoujiaming777/DIFFA-2 for diffa-2 (DIFFA checkpoint: config, weights; or a local copy: diffa-2@PATH)" in (
        line
    )
    assert "openai/whisper-large-v3 for diffa-2 (Whisper encoder: config, weights; or a local copy: " in line
    assert "DIFFA_EVAL_WHISPER=PATH" in line and "DIFFA_EVAL_LLADA=PATH" in line and "HF_HUB_OFFLINE" in line


def test_a_checkpoint_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    args = ["-m", "qwen2-audio-instruct@/nonexistent/path", "-t", MMAU, "--split", "sample"]
    done, _ = _run(*args, "--output-dir", str(output))
    assert _error(done) == (
        "error: qwen2-audio-instruct@/nonexistent/path: the checkpoint path /nonexistent/path does not exist "
        "(give an existing folder: qwen2-audio-instruct@PATH)"
    )
    assert not output.exists()
    env = {**os.environ, "COLUMNS": "500", "DIFFA_EVAL_LLADA": str(tmp_path / "no-llada")}
    done, _ = _run("-m", "diffa-2", "-t", MMAU, "--split", "sample", "--output-dir", str(output), env=env)
    assert f"diffa-2 (DIFFA_EVAL_LLADA={tmp_path / 'no-llada'}): the LLaDA backbone path " in _error(done)


def test_any_transformers_model_by_path_or_hub_id_is_found_before_it_loads(tmp_path: Path) -> None:
    output = tmp_path / "runs"
    done, seconds = _run("-m", "hf@/nonexistent/path", "-t", MMAU, "--split", "sample", "--output-dir", str(output))
    assert _error(done) == (
        "error: hf@/nonexistent/path: the checkpoint path /nonexistent/path does not exist (give an existing folder: "
        "hf@PATH)"
    )
    assert seconds < FAST_S
    args = ["-m", "hf@someone/my-finetune", "-t", MMAU, "--split", "sample", "--model-args", "dtype=float32"]
    done, seconds = _run(*args, "--output-dir", str(output))
    line = _error(done)
    assert seconds < FAST_S
    needed = "checkpoint: config, weights, processor, tokenizer; or a local copy: hf@PATH"
    assert f"someone/my-finetune for hf@someone/my-finetune ({needed}) is not in the local Hugging Face cache" in line
    assert "HF_HUB_OFFLINE is set" in line and "hf download someone/my-finetune" in line
    with _refusing_port() as endpoint:
        env = _online_env(tmp_path / "hf", endpoint, DIFFA_EVAL_HUB_TIMEOUT="2")
        done, seconds = _run(*args, "--output-dir", str(output), env=env)
    line = _error(done)
    assert seconds < FAST_S
    assert f"the hub ({endpoint}) cannot be reached" in line and "hf@PATH" in line and "HF_HUB_OFFLINE=1" in line
    assert not output.exists()


def test_run_help_documents_the_checkpoint_form_and_the_base_model_variables() -> None:
    from typer.testing import CliRunner

    from diffa_eval.cli import app

    shown = " ".join(CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "NAME[+BACKEND][@CHECKPOINT]. @CHECKPOINT is a local folder or a hub id (owner/name)" in shown
    assert "DIFFA_EVAL_LLADA and DIFFA_EVAL_WHISPER" in shown and "HF_HUB_OFFLINE=1" in shown


def test_a_local_folder_must_hold_each_part_the_model_loads(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors.index.json").write_text('{"weight_map": {"a": "model-00001.safetensors"}}')
    source = WeightSource("checkpoint", str(folder), ("config", "weights", "processor", "tokenizer"), "m@PATH", "m@x")
    assert missing_parts(folder, source.parts) == ["weights", "processor", "tokenizer"]
    with pytest.raises(CheckpointError) as raised:
        check_sources([("m@x", [source])])
    assert f"m@x: the checkpoint path {folder} lacks its weights, processor, tokenizer" in str(raised.value)
    for name in ("model-00001.safetensors", "preprocessor_config.json", "tokenizer.json"):
        (folder / name).write_text("")
    check_sources([("m@x", [source])])


def _cache_tiny_whisper(hf_home: Path) -> None:
    """A random tiny Whisper saved in the hub cache as openai/whisper-tiny, as a download leaves it."""
    from diffa_eval.models.tiny import tiny_whisper

    repo = hf_home / "hub" / "models--openai--whisper-tiny"
    snapshot = repo / "snapshots" / ("0" * 40)
    whisper = tiny_whisper()
    whisper.model.generation_config._from_model_config = False  # keep its Whisper-specific settings on reload
    whisper.model.save_pretrained(snapshot)
    whisper.processor.save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)


def test_a_cached_model_runs_from_the_cache_when_the_hub_cannot_be_reached(tmp_path: Path) -> None:
    _cache_tiny_whisper(tmp_path / "hf")
    with _refusing_port() as endpoint:
        env = _online_env(tmp_path / "hf", endpoint)
        args = ["-m", "whisper-tiny", "-t", "librispeech_test_clean", "--split", "sample", "-q"]
        done, seconds = _run(*args, "--output-dir", str(tmp_path / "runs"), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 generated, 0 reused, 0 failed" in done.stdout
    assert "the Hugging Face hub cannot be reached" in done.stderr and "working from the local cache" in done.stderr
    assert seconds < 60, "no request retried the hub"


def test_a_plan_without_hub_models_or_hub_data_never_asks_the_hub(tmp_path: Path) -> None:
    with _silent_server() as endpoint:  # a request to it would wait for the whole timeout
        env = _online_env(tmp_path / "hf", endpoint, DIFFA_EVAL_HUB_TIMEOUT="120")
        args = ["-m", "chance,qwen2-audio-tiny", "-t", MMAU, "--split", "sample", "--max-new-tokens", "2", "-q"]
        done, seconds = _run(*args, "--output-dir", str(tmp_path / "runs"), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert seconds < 100 and "cannot be reached" not in done.stderr
