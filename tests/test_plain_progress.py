"""Off a terminal (a Slurm log, `| tee`, CI) a run writes plain, flushed progress lines while it works."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from rich.console import Console

from diffa_eval.cli.progress import PlainProgress, RichProgress, progress_for

from .mock_model import plugin_source, site_with_plugin

LINE = re.compile(
    r"^\[progress\] slow · mmau_test_mini \(sample\): (?:\w+, )?(\d+)/10 \(\d+%\), [\d.]+ samples/s, "
    r"ETA (?:\d+:\d\d:\d\d|unknown), (\d+) failed, elapsed \d+:\d\d:\d\d$"
)


class _Flushes(io.StringIO):
    """A stream that counts its flushes, so a test sees that every line is flushed at once."""

    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


def test_a_run_with_stdout_to_a_file_shows_progress_lines_while_it_works(tmp_path: Path) -> None:
    # 0.4 s per sample, one sample per batch, one failing sample: the run takes about 4 s
    source = plugin_source('Script(name="slow", delay_s=0.4, fail_on={"788a0618-48ec-5068-ade2-75bd8760fdfd"})')
    site = site_with_plugin(tmp_path / "site", "slowprogress", "slow", source)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "DIFFA_EVAL_PROGRESS_SECONDS": "0.5",
    }
    log = tmp_path / "slurm.out"
    command = [sys.executable, "-m", "diffa_eval", "run", "-m", "slow", "-t", "mmau_test_mini", "--split", "sample",
               "--batch-size", "1", "--output-dir", str(tmp_path / "runs")]  # fmt: skip
    with log.open("w") as stdout:
        process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env)
        try:
            seen: list[re.Match[str]] = []
            deadline = time.monotonic() + 120
            while not any(int(match.group(1)) > 0 for match in seen) and time.monotonic() < deadline:
                assert process.poll() is None, "the run ended before any progress line was read"
                time.sleep(0.1)
                seen = [m for m in map(LINE.match, log.read_text().splitlines()) if m]
            assert process.poll() is None, "progress was read while the run was still working"
            assert any(int(match.group(1)) > 0 for match in seen), log.read_text()
        finally:
            _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr  # the failed sample exceeds --max-failures 0
    lines = [line for line in log.read_text().splitlines() if line.startswith("[progress]")]
    assert all(LINE.match(line) for line in lines), lines
    assert lines[0].startswith("[progress] slow · mmau_test_mini (sample): started, 0/10 (0%)")
    assert lines[-1].startswith("[progress] slow · mmau_test_mini (sample): done, 10/10 (100%)")
    assert ", 1 failed, " in lines[-1]
    assert "diffa-eval leaderboard" in log.read_text()  # the report still follows
    summary = [line for line in log.read_text().splitlines() if line.startswith("slow · mmau_test_mini (sample): ")]
    assert len(summary) == 1 and f"→ {tmp_path / 'runs' / 'slow'}" in summary[0], "written whole, not at 80 columns"


def test_plain_lines_come_every_few_percent_and_are_flushed() -> None:
    stream = _Flushes()
    now = [0.0]
    progress = PlainProgress(stream, every_seconds=3600, every_percent=25, clock=lambda: now[0])
    try:
        progress.start("m · t (test)", total=8, completed=2)
        for second, failed in zip(range(1, 7), (0, 1, 0, 0, 1, 0), strict=True):
            now[0] = second
            progress.advance(1, failed)
        now[0] = 10
        progress.finish()
    finally:
        progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1].split(", ")[:2] for line in lines] == [
        ["started", "2 recorded before"],
        ["4/8 (50%)", "1.00 samples/s"],  # 2 samples produced in the 2 s since the start
        ["6/8 (75%)", "1.00 samples/s"],
        ["8/8 (100%)", "1.00 samples/s"],
        ["done", "8/8 (100%)"],
    ]
    assert lines[1].endswith("ETA 0:00:04, 1 failed, elapsed 0:00:02")
    assert lines[3].endswith("ETA 0:00:00, 2 failed, elapsed 0:00:06")
    assert lines[4].endswith("0.60 samples/s, ETA 0:00:00, 2 failed, elapsed 0:00:10")
    assert stream.flushes >= len(lines)


def test_a_long_batch_still_gets_a_line_every_interval() -> None:
    stream = _Flushes()
    progress = PlainProgress(stream, every_seconds=0.05, every_percent=50)
    try:
        progress.start("m · t (test)", total=4, completed=0)
        time.sleep(0.5)  # no sample finishes: only the timer writes
    finally:
        progress.close()
    heartbeats = [line for line in stream.getvalue().splitlines() if ": 0/4 (0%)" in line]
    assert len(heartbeats) >= 3, stream.getvalue()
    assert all("ETA unknown" in line for line in heartbeats)
    assert not any(thread.name == "progress" for thread in threading.enumerate()), "close() stops the timer"


def test_a_terminal_gets_rich_bars_anything_else_plain_lines() -> None:
    terminal = progress_for(Console(file=io.StringIO(), force_terminal=True))
    plain = progress_for(Console(file=io.StringIO(), force_terminal=False))
    try:
        assert isinstance(terminal, RichProgress) and isinstance(plain, PlainProgress)
    finally:
        terminal.close()
        plain.close()
