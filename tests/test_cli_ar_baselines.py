"""The AR baselines from the command line: listed with their backends, and the offline acceptance run."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from diffa_eval.cli import app

runner = CliRunner()


def test_list_models_shows_each_ar_preset_with_its_backends() -> None:
    result = runner.invoke(app, ["list", "models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["qwen2-audio-instruct"]["backends"] == ["transformers", "vllm"]
    assert rows["qwen2.5-omni-7b"]["backends"] == ["transformers", "vllm"]
    assert rows["whisper-large-v3"]["backends"] == ["transformers"]
    assert "Qwen/Qwen2-Audio-7B-Instruct" in rows["qwen2-audio-instruct"]["description"]
    assert "RANDOM" in rows["qwen2-audio-tiny"]["description"]


def test_tiny_qwen2_audio_and_chance_share_one_leaderboard_offline(tmp_path: Path) -> None:
    args = ["run", "--models", "qwen2-audio-tiny,chance", "--tasks", "mmau_test_mini,librispeech_test_clean"]
    result = runner.invoke(app, [*args, "--split", "sample", "--limit", "3", "--output-dir", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    table = result.output.split("qwen2-audio-tiny ·")[0]
    assert "leaderboard" in table and "qwen2-audio-tiny" in table and "chance" in table
    assert "3 generated, 0 reused, 0 failed" in result.output


def test_a_backend_the_model_lacks_is_refused_before_any_work(tmp_path: Path) -> None:
    args = ["run", "-m", "whisper-tiny", "-t", "librispeech_test_clean", "--split", "sample", "--backend", "vllm"]
    result = runner.invoke(app, [*args, "--output-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "no vllm backend" in str(result.exception)
    assert not any(tmp_path.iterdir())


def test_compare_backends_needs_two_different_backends(tmp_path: Path) -> None:
    args = ["compare-backends", "qwen2-audio-tiny", "-t", "mmau_test_mini", "--backends", "transformers"]
    result = runner.invoke(app, [*args, "--output-dir", str(tmp_path)])
    assert result.exit_code != 0
    assert "at least two different backends" in str(result.exception)
