"""A run killed with SIGKILL at any point and re-run ends with every sample exactly once.

The model is a plugin (an entry point in a fake installed distribution) that answers slowly,
so that the process can be killed while it works.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PLUGIN = textwrap.dedent('''
    """A slow, deterministic model for crash tests."""
    import hashlib
    import os
    import time

    from diffa_eval.types import ModelOutput

    DELAY = float(os.environ["SLOW_MODEL_DELAY"])


    class SlowModel:
        name = "slow"
        sampling_rate = 16000
        device = "cpu"

        def __init__(self, spec, device):
            pass

        def info(self):
            return {"kind": "test"}

        def close(self):
            pass

        def generate(self, requests, config):
            outputs = []
            for request in requests:
                time.sleep(DELAY)
                pick = int(hashlib.sha256(request.sample_id.encode()).hexdigest(), 16)
                text = request.choices[pick % len(request.choices)] if request.choices else request.reference
                outputs.append(ModelOutput(text, 1, 1, DELAY))
            with open(os.environ["SLOW_MODEL_CALLS"], "a") as log:
                log.write(" ".join(r.sample_id for r in requests) + "\\n")
            return outputs
''')

TASKS = "mmau_test_mini,librispeech_test_clean"
TOTAL = 15


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    info = site / "slowplugin-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "slowplugin.py").write_text(PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slowplugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[diffa_eval.models]\nslow = slowplugin:SlowModel\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    env["SLOW_MODEL_DELAY"] = "0.08"
    env["SLOW_MODEL_CALLS"] = str(tmp_path / "calls.log")
    return env


def _command(output: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "diffa_eval",
        "run",
        "--models",
        "slow",
        "--tasks",
        TASKS,
        "--split",
        "sample",
        "--batch-size",
        "1",
        "--output-dir",
        str(output),
        "--quiet",
    ]


def _records(output: Path) -> dict[str, list[dict[str, object]]]:
    found = {}
    for samples in sorted(output.rglob("samples.jsonl")):
        found[samples.parent.name] = [json.loads(line) for line in samples.read_text().splitlines()]
    return found


def _written(output: Path) -> int:
    return sum(len(path.read_bytes().splitlines()) for path in output.rglob("samples.jsonl"))


def _comparable(records: dict[str, list[dict[str, object]]]) -> dict[str, list[dict[str, object]]]:
    return {run: [{k: v for k, v in r.items() if k != "seconds"} for r in rows] for run, rows in records.items()}


def _metrics(output: Path) -> dict[str, object]:
    return {p.parent.name: json.loads(p.read_text()) for p in output.rglob("metrics.json")}


@pytest.mark.slow
def test_sigkill_at_several_points_then_resume_loses_and_repeats_nothing(
    tmp_path: Path, plugin_env: dict[str, str]
) -> None:
    reference = tmp_path / "reference"
    subprocess.run(_command(reference), env=plugin_env, check=True, capture_output=True, timeout=120)

    output = tmp_path / "interrupted"
    kills = 0
    for kill_after in (1, 4, 7, 11):
        process = subprocess.Popen(
            _command(output), env=plugin_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while process.poll() is None and _written(output) < kill_after and time.monotonic() < deadline:
            time.sleep(0.01)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
        assert _written(output) < TOTAL or process.returncode == 0
    assert kills >= 3

    final = subprocess.run(_command(output), env=plugin_env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr
    assert _comparable(_records(output)) == _comparable(_records(reference))
    assert sum(len(rows) for rows in _records(output).values()) == TOTAL
    metrics, expected = _metrics(output), _metrics(reference)
    assert metrics == expected

    calls = Path(plugin_env["SLOW_MODEL_CALLS"])
    before = calls.read_text()
    again = subprocess.run(_command(output), env=plugin_env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0
    assert calls.read_text() == before  # no model work at all
    assert "0 generated, 10 reused" in again.stdout
