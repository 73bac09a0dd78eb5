"""User task files (--tasks-dir, DIFFA_EVAL_TASKS_DIR) and task entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from diffa_eval.cli import app
from diffa_eval.errors import RegistryError
from diffa_eval.task import TASKS, add_tasks_dir

from .conftest import write_audio

TASK_FILE = textwrap.dedent('''
    """Beep counting: a tiny user task."""
    from pathlib import Path

    from diffa_eval.scoring.choice import token_set_match
    from diffa_eval.scoring.metrics import Accuracy
    from diffa_eval.task import LoadedData, Task, register_task
    from diffa_eval.types import AudioRef, DatasetInfo, Sample, Score

    HERE = Path(__file__).parent


    class Beeps(Task):
        name = "NAME"
        version = 1
        description = "How many beeps?"
        groups = ("toys",)
        splits = ("test",)
        metrics = (Accuracy(),)

        def load(self, split, data_dir=None):
            samples = [self.sample_from_record({"id": "b1", "file": "beep.wav", "answer": "two"}, HERE)]
            return LoadedData(samples, DatasetInfo("local", str(HERE)))

        def sample_from_record(self, record, base_dir=None):
            return Sample(record["id"], AudioRef(path=str(base_dir / record["file"])), record["answer"],
                          ("one", "two", "three"), dict(record))

        def prompt(self, sample):
            return "How many beeps?"

        def score(self, sample, prediction):
            return Score(float(token_set_match(prediction, sample.reference, sample.choices)), prediction)


    register_task(Beeps())
''')


@pytest.fixture
def task_folder(tmp_path: Path) -> Iterator[Path]:
    name = f"beeps_{tmp_path.name[-6:].replace('-', '_')}"
    write_audio(tmp_path / "tasks" / "beep.wav")
    (tmp_path / "tasks" / "beeps.py").write_text(TASK_FILE.replace("NAME", name))
    yield tmp_path / "tasks"
    if name in TASKS:
        TASKS.unregister(name)


def test_a_user_task_folder_adds_tasks_that_run(task_folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["list", "tasks", "--tasks-dir", str(task_folder), "--json"])
    rows = {row["name"]: row for row in json.loads(listed.output)}
    name = next(n for n in rows if n.startswith("beeps_"))
    assert rows[name]["groups"] == ["toys"]
    result = runner.invoke(app, ["run", "-m", "oracle", "-t", "toys", "--output-dir", str(tmp_path / "runs"), "-q"])
    assert result.exit_code == 0, result.output
    assert "1 generated" in result.output and "100.00" in result.output


def test_a_task_name_registered_twice_names_both_files(task_folder: Path, tmp_path: Path) -> None:
    add_tasks_dir(task_folder)
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "again.py").write_text((task_folder / "beeps.py").read_text())
    with pytest.raises(
        RegistryError, match=r"registered twice: by --tasks-dir .*beeps.py and by --tasks-dir .*again.py"
    ):
        add_tasks_dir(clash)


def test_a_broken_task_file_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import nonexistent_module_xyz\n")
    with pytest.raises(RegistryError, match=r"task file .*broken.py failed to load: ModuleNotFoundError"):
        add_tasks_dir(tmp_path)


def test_the_environment_variable_and_entry_points_add_tasks(task_folder: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "plugintasks-1.0.dist-info").mkdir(parents=True)
    (site / "plugintasks-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: plugintasks\nVersion: 1.0\n"
    )
    (site / "plugintasks-1.0.dist-info" / "entry_points.txt").write_text("[diffa_eval.tasks]\nextra = plugtask\n")
    (site / "plugtask.py").write_text(
        (task_folder / "beeps.py")
        .read_text()
        .replace('name = "beeps_', 'name = "plugged_')
        .replace("HERE = Path(__file__).parent", f"HERE = Path({str(task_folder)!r})")
    )
    env = {
        **os.environ,
        "DIFFA_EVAL_TASKS_DIR": str(task_folder),
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "diffa_eval", "list", "tasks", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    names = {row["name"] for row in json.loads(done.stdout)}
    assert any(n.startswith("beeps_") for n in names)
    assert any(n.startswith("plugged_") for n in names)


PACKAGE_INIT = textwrap.dedent('''
    """Chirp counting: a user task package whose modules import each other relatively."""
    from pathlib import Path

    from diffa_eval.scoring.metrics import Accuracy
    from diffa_eval.task import LoadedData, Task, register_task
    from diffa_eval.types import AudioRef, DatasetInfo, Sample

    from .scoring import CountScorer

    DATA = Path(__file__).parent / "data"


    class Chirps(Task):
        name = "NAME"
        version = 1
        description = "How many chirps?"
        splits = ("test",)
        scorer = CountScorer()
        metrics = (Accuracy(),)

        def load(self, split, data_dir=None):
            return LoadedData([self.sample_from_record({"id": "c1", "answer": "two"}, DATA)], DatasetInfo("local", "x"))

        def sample_from_record(self, record, base_dir=None):
            return Sample(record["id"], AudioRef(path=str(base_dir / "chirp.wav")), record["answer"],
                          ("one", "two"), dict(record))

        def prompt(self, sample):
            return "How many chirps?"


    register_task(Chirps())
''')

PACKAGE_SCORING = textwrap.dedent('''
    """The package's own scorer."""
    from diffa_eval.scoring.choice import token_set_match
    from diffa_eval.types import Score


    class CountScorer:
        name = "chirp_count"
        description = "answer text match"

        def __call__(self, sample, prediction):
            return Score(float(token_set_match(prediction or "", sample.reference, sample.choices)), prediction)
''')


def test_a_package_in_a_task_folder_is_one_task_module_whose_modules_import_relatively(tmp_path: Path) -> None:
    name = f"chirps_{tmp_path.name[-6:].replace('-', '_')}"
    package = tmp_path / "tasks" / "chirps"
    write_audio(package / "data" / "chirp.wav")
    (package / "__init__.py").write_text(PACKAGE_INIT.replace("NAME", name))
    (package / "scoring.py").write_text(PACKAGE_SCORING)
    (tmp_path / "tasks" / "notes").mkdir()  # a folder without __init__.py holds data, not a task
    (tmp_path / "tasks" / "notes" / "broken.py").write_text("raise SystemExit('never imported')\n")
    try:
        add_tasks_dir(tmp_path / "tasks")
        assert TASKS.entry(name).origin == f"--tasks-dir {package}"
        assert type(TASKS.get(name).scorer).__name__ == "CountScorer"
        ran = CliRunner().invoke(app, ["run", "-m", "oracle", "-t", name, "--output-dir", str(tmp_path / "runs"), "-q"])
    finally:
        if name in TASKS:
            TASKS.unregister(name)
    assert ran.exit_code == 0, ran.output
    assert "1 generated" in ran.output and "100.00" in ran.output


def test_a_broken_task_package_is_reported_with_its_path_and_loads_once_fixed(tmp_path: Path) -> None:
    name = f"chirps_{tmp_path.name[-6:].replace('-', '_')}"
    package = tmp_path / "chirps"
    write_audio(package / "data" / "chirp.wav")
    (package / "__init__.py").write_text(PACKAGE_INIT.replace("NAME", name))
    (package / "scoring.py").write_text("import nonexistent_module_xyz\n")
    with pytest.raises(RegistryError, match=r"task package .*chirps failed to load: ModuleNotFoundError"):
        add_tasks_dir(tmp_path)
    (package / "scoring.py").write_text(PACKAGE_SCORING)
    try:
        add_tasks_dir(tmp_path)
        assert name in TASKS
    finally:
        if name in TASKS:
            TASKS.unregister(name)
