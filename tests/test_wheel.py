"""An installed wheel carries the built-in task packages, their sample data, and imports them by one name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .conftest import REPO


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_venv_lists_and_runs_the_builtin_tasks(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(dist.glob("diffa_eval-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # Dependencies come from this environment's site-packages (a plain path entry, so its .pth
    # files, including the editable install of this checkout, are not processed).
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cli = str(venv / "bin" / "diffa-eval")

    where = subprocess.run(
        [str(python), "-c", "import diffa_eval; print(diffa_eval.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(venv))

    imported = subprocess.run(
        [
            str(python),
            "-c",
            "from diffa_eval.task import builtin_module; m = builtin_module('voicebench.evaluators'); "
            "print(m.__file__); print(m.mcq_letter('(B) Photosynthesis'))",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert imported[0].startswith(str(venv)) and "_builtin_tasks" in imported[0] and imported[1] == "B"

    listed = subprocess.run(
        [cli, "list", "tasks", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    names = {row["name"] for row in json.loads(listed.stdout)}
    assert {"mmau_test_mini", "librispeech_test_clean", "librispeech_test_other"} <= names

    ran = subprocess.run(
        [
            cli,
            "run",
            "-m",
            "oracle",
            "-t",
            "mmau_test_mini,librispeech_test_other,voicebench_bbh",
            "--split",
            "sample",
            "--output-dir",
            str(tmp_path / "runs"),
            "-q",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "10 generated" in ran.stdout and "5 generated" in ran.stdout and "2 generated" in ran.stdout
